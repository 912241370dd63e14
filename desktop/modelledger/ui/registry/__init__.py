"""The registry in the window: the models page, a model's page (facts, versions, lifecycle
actions, and the health and model-card tabs), the import wizard and version comparison."""
