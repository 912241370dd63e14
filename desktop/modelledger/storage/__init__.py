"""The database: opening SQLite or PostgreSQL safely (`database`), the tables and their Alembic
migrations (`schema`, `migrations`), repositories that return core values, the audit appender
and the content-addressed artifact store. Uses core only."""
