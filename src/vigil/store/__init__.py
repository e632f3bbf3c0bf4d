"""Persistence: SQLAlchemy 2.0 models and Alembic migrations (SQLite default, PostgreSQL too).

Other packages use the small repository functions next to their domain (for example
`vigil.faces.gallery`), not raw SQL.
"""
