"""Maps alerting errors to HTTP answers, for the alerting routers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import HTTPException
from pydantic import ValidationError

from cloud.alerting.errors import InvalidRule, NotFound, UnsafeTarget

T = TypeVar("T")


@contextmanager
def http_errors() -> Iterator[None]:
    """404 for unknown ids, 422 for unsafe targets and invalid specifications."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (UnsafeTarget, InvalidRule) as exc:
        raise HTTPException(422, str(exc)) from None
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, str(exc)) from None


def call(fn: Callable[[], T]) -> T:
    """Run ``fn`` with :func:`http_errors`."""
    with http_errors():
        return fn()
