"""The narrow view of the metadata database the alerting services use.

The cloud's metadata engine exists only once the app has started, while routers are built
when the app is created; :class:`LazyEngine` bridges the two by asking for the engine on use.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy import Connection, Engine


class Database(Protocol):
    """Connections and transactions (an SQLAlchemy :class:`Engine` is one)."""

    def connect(self) -> Connection:
        """A connection (a context manager; commit explicitly or use :meth:`begin`)."""
        ...

    def begin(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction that commits on success and rolls back on error."""
        ...


class LazyEngine:
    """A :class:`Database` that looks its engine up on every use."""

    def __init__(self, get: Callable[[], Engine]) -> None:
        self._get = get

    def connect(self) -> Connection:
        """A connection of the current engine."""
        return self._get().connect()

    def begin(self) -> AbstractContextManager[Connection]:
        """A transaction on the current engine."""
        return self._get().begin()
