"""Health in the window: a model's health tab (`model_view`) with its pyqtgraph `charts`, and the
portfolio page with its sparklines. Draws what services.health prepares; opens a run's
details from monitoring."""
