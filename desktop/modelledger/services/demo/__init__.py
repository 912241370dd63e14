"""The demo workspace: real models, users and ~100 days of history played on a simulated clock
(`timeline`): registry work (`build`) and replayed monitoring runs (`monitoring_history`).
Drives the same services a user does, through the workspace."""
