"""Monitoring in the window: the monitors page with its runs, the monitor dialog, a run's
details, the alerts page and the alert e-mail settings box. Uses widgets and base."""
