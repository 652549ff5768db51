"""Path and text types shared by the alerting routers.

Errors are not mapped here: the alerting stores raise :class:`cloud.alerting.core.errors`
subclasses of :class:`cloud.errors.CloudError`, which ``cloud.app`` maps to HTTP once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

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
