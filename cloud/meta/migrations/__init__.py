"""Versioned migrations of the metadata database (Alembic scripts; see cloud/meta/schema.py)."""
