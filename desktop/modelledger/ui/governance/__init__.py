"""Governance in the window: the audit timeline, model cards, the evidence export dialog and
review mode (an evidence pack opened read-only). Uses widgets and base."""
