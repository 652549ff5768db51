"""The cloud service: idempotent ingest, time-series stores, trend queries, alerts, webhooks.

May import ``firmware_protocol`` (its data model) only; never ``gateway``.
"""
