"""Threshold rule: above, below or outside a band, with a separate clear level (hysteresis).

Evaluated as data arrives. Each reading is classified ``1`` (over the limit: active), ``0``
(back past the clear level: cleared) or ``-1`` (between the two: hold the current state), so
a value wobbling around the limit does not flap the alert.

>>> rule = ThresholdRule(name="hot", op="above", limit=80.0, clear=75.0)
>>> rule.classify(np.array([70.0, 81.0, 78.0, 74.0])).tolist()
[0, 1, -1, 0]
>>> band = ThresholdRule(name="band", op="outside", low=10.0, high=20.0)
>>> band.classify(np.array([5.0, 15.0, 25.0])).tolist()
[1, 0, 1]
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import model_validator

from cloud.alerting.rules.base import RuleBase
from cloud.validation import FiniteFloat


class ThresholdRule(RuleBase):
    """Fires when a value is above ``limit``, below ``limit`` or outside ``low``..``high``."""

    mode: ClassVar[str] = "arrival"
    default_message: ClassVar[str] = (
        "{sensor} on {device} is {value:.3g} {unit} ({op} {limit:.3g})"
    )

    kind: Literal["threshold"] = "threshold"
    op: Literal["above", "below", "outside"] = "above"
    limit: FiniteFloat | None = None
    clear: FiniteFloat | None = None
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None
    clear_low: FiniteFloat | None = None
    clear_high: FiniteFloat | None = None

    @model_validator(mode="after")
    def _check_levels(self) -> ThresholdRule:
        if self.op == "outside":
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError("op 'outside' needs low < high")
            cl = self.low if self.clear_low is None else self.clear_low
            ch = self.high if self.clear_high is None else self.clear_high
            if not self.low <= cl <= ch <= self.high:
                raise ValueError("clear band must lie inside low..high")
            return self
        if self.limit is None:
            raise ValueError(f"op '{self.op}' needs a limit")
        if self.clear is not None and (
            (self.op == "above" and self.clear > self.limit)
            or (self.op == "below" and self.clear < self.limit)
        ):
            raise ValueError("clear must be on the safe side of limit (hysteresis)")
        return self

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Per value: 1 active, 0 cleared, -1 hold (between the limit and the clear level)."""
        if self.op == "outside":
            assert self.low is not None and self.high is not None
            cl = self.low if self.clear_low is None else self.clear_low
            ch = self.high if self.clear_high is None else self.clear_high
            active = (values < self.low) | (values > self.high)
            cleared = (values >= cl) & (values <= ch)
        else:
            assert self.limit is not None
            clear = self.limit if self.clear is None else self.clear
            if self.op == "above":
                active, cleared = values > self.limit, values <= clear
            else:
                active, cleared = values < self.limit, values >= clear
        return np.where(active, 1, np.where(cleared, 0, -1)).astype(np.int8)

    def fields(self) -> dict[str, object]:
        """Template fields describing the rule's levels."""
        if self.op == "outside":
            return {"op": "outside", "limit": self.high, "low": self.low, "high": self.high}
        return {"op": self.op, "limit": self.limit}
