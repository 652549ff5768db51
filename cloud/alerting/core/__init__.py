"""Plumbing every alerting subpackage shares: clock, database view, SQL helpers, errors, the
series identity and the ingest-facing protocols. Imports nothing from the subpackages above it."""
