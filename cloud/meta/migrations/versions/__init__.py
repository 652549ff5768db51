"""One file per revision of the metadata schema, oldest first (``0001_baseline`` is the schema
of the release before migrations)."""
