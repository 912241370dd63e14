"""PySide6 only: one package per feature, over the services.

Upper packages may use lower ones, never the reverse (pyproject.toml, [tool.importlinter]):
shell > registry > governance | health > monitoring > widgets > base.
"""
