"""What every page stands on: the open workspace `session` and its change polling, the worker
lanes and their bridge to Qt signals (`tasks`), what only the GUI thread may do (`gui_thread`)
and the error and crash dialogs (`errors`). Uses services; no page or widget."""
