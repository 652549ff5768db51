"""A detector's constructor parameters held once for every stream that has the same ones.

A gateway runs one detector per stream, thousands of them, all built with the same parameters:
kept in each instance, sentinel's twenty cost 160 bytes a stream (a slot each). Instead each
stream holds one reference to a shared, immutable record of them (decision 83); reading one
costs an attribute load more. The attribute names stay readable on the detector (a property
each: River's ``_get_params`` and ``clone`` read them there), and saved state still lists every
parameter under its own name, so state files keep the layout they had.

>>> shared((("a", 1), ("b", 2.5))) is shared((("a", 1), ("b", 2.5)))
True
>>> p = shared((("a", 1), ("b", 2.5)))
>>> p.a, p.b, p.names()
(1, 2.5, ('a', 'b'))
>>> shared((("a", 1.0), ("b", 2.5))) is p  # 1 == 1.0, but not the same parameter
False
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

#: Every distinct set of parameters seen, by its names, values and their types.
_SHARED: dict[tuple[tuple[str, type, Any], ...], Params] = {}


class Params:
    """Named, read-only values (made by :func:`shared`, never directly)."""

    def __init__(self, items: tuple[tuple[str, Any], ...]) -> None:
        object.__setattr__(self, "_names", tuple(name for name, _ in items))
        for name, value in items:
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("shared parameters are read-only")

    def __getattr__(self, name: str) -> Any:  # only for what is not set: typed access for mypy
        raise AttributeError(name)

    def names(self) -> tuple[str, ...]:
        return self._names

    def items(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._names}


def shared(items: tuple[tuple[str, Any], ...]) -> Params:
    """The one :class:`Params` holding ``items`` (created on first use).

    Types are part of the key: ``3`` and ``3.0`` are equal but a detector may compute
    differently with them, and its scores must not depend on which stream came first."""
    key = tuple((name, type(value), value) for name, value in items)
    params = _SHARED.get(key)
    if params is None:
        params = _SHARED[key] = Params(items)
    return params


def expose(cls: type, names: tuple[str, ...]) -> None:
    """Give ``cls`` a read-only property per name, reading it from the instance's ``p``."""
    for name in names:
        setattr(cls, name, property(attrgetter(f"p.{name}"), doc=f"Parameter ``{name}``."))
