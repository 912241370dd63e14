"""One file per schema revision, oldest first (storage/schema.py lists them)."""
