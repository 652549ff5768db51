"""Maps alerting errors to HTTP answers, for the alerting routers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import HTTPException, Path
from pydantic import AfterValidator, ValidationError

from cloud.alerting.errors import InvalidRule, NotFound, UnsafeTarget

T = TypeVar("T")

#: The ids this API hands out (``rule_...``, ``ep_...``, ``msg_...``, ``sil_...``).
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_]{1,64}$")]
#: Alert ids are database integers.
AlertId = Annotated[int, Path(ge=1, le=2**62)]


def _utf8(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
    return text


#: Free text that must survive being stored (no lone surrogates).
Text = Annotated[str, AfterValidator(_utf8)]


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
