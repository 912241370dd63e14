"""Alembic migrations of the workspace schema; Alembic loads them by path (storage/schema.py)."""
