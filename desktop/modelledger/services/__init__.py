"""Use cases over the storage layer, without Qt: one package per feature.

Upper packages may use lower ones, never the reverse (pyproject.toml, [tool.importlinter]):
demo > workspace > governance > monitoring | health > registry > identity | data > changes.
"""
