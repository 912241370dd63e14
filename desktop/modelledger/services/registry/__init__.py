"""The model registry: models, versions, artifacts, lifecycle and approvals (`service`), and
recognising and safely loading model files (`model_files`). Uses data and changes."""
