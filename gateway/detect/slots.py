"""Restoring detector state pickled before a class had ``__slots__``.

A stream's detector lives in memory for every stream (5,000 and more): an instance ``__dict__``
costs ~1.6 KB once a class has more than 30 attributes (CPython then stops sharing the keys),
``__slots__`` ~8 bytes an attribute (decision 74). State files written by a release without
slots hold a plain ``__dict__``; pickle would put it in the instance dict, where the slots'
descriptors never look. :func:`restore` sets every saved attribute through the slots instead,
so saved streams survive the upgrade with their learning (and the same ``state_version``).

>>> class Point:
...     __slots__ = ("x", "y")
...     def __setstate__(self, state: object) -> None:
...         restore(self, state)
>>> p = Point.__new__(Point)
>>> restore(p, {"x": 1, "y": 2})          # a pickle from before the slots
>>> restore(p, (None, {"x": 3, "y": 4}))  # what object.__getstate__ gives with slots
>>> p.x, p.y
(3, 4)
"""

from __future__ import annotations

from typing import Any


def restore(obj: Any, state: object) -> None:
    """Set ``obj``'s attributes from a pickled state: a plain dict (written before the class
    had slots) or ``(dict or None, slots dict or None)``."""
    if isinstance(state, tuple):
        attrs, slots = state
    else:
        attrs, slots = state, None
    for source in (attrs, slots):
        for key, value in (source or {}).items():
            setattr(obj, key, value)


def slot_state(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``obj``'s attributes as one plain dict: every slot of its class and its bases that is
    set (but ``skip``), and its instance ``__dict__`` if it has one; :func:`restore` reads it."""
    state: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in skip and hasattr(obj, name):
                state[name] = getattr(obj, name)
    state.update(getattr(obj, "__dict__", {}))
    return state

