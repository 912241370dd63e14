"""Widgets several pages share: the paged, SQL-sorted table models, the reason dialog, and
widgets built one per turn of the event loop (`staged_widgets`). Uses base only."""
