"""Persistence: tables, the engine, the unit of work, queries and Alembic migrations."""
