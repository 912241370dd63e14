"""Monitors and their runs (`service`): computed in a worker process (`run_worker`), fired once
across instances by the `scheduler` on `schedules`, alerts e-mailed through `alert_email`.
Uses registry (model files), data and changes; knows nothing of governance or health."""
