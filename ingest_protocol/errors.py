"""The ingest contract's one exception root."""

from __future__ import annotations


class IngestProtocolError(Exception):
    """Anything the ingest contract refuses."""


class EnvelopeRejected(IngestProtocolError):
    """A body that is not an acceptable batch at all, with the HTTP status it earns."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
