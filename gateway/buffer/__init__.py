"""The durable store-and-forward buffer: the :class:`Buffer` role and its SQLite implementation."""

from gateway.buffer.base import Buffer, BufferStats, Cursor, Lane, NewRow, Row
from gateway.buffer.sqlite import SqliteBuffer

__all__ = ["Buffer", "BufferStats", "Cursor", "Lane", "NewRow", "Row", "SqliteBuffer"]
