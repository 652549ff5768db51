"""Pipeline rule: turns a pipeline-health finding (stale device, volume drop or surge, schema
change, SLA breach) into an alert through the same lifecycle as every other rule.

Evaluated on the schedule from the monitors' findings (see ``cloud.alerting.monitors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from cloud.alerting.rules.base import Observation, RuleBase, SeriesRef

Check = Literal["stale", "volume_drop", "volume_surge", "schema", "sla"]


class PipelineRule(RuleBase):
    """Fires for each series a monitor reports for ``check``; resolves when it stops."""

    default_message: ClassVar[str] = "{check}: {detail}"

    kind: Literal["pipeline"] = "pipeline"
    check: Check

    def observe_findings(
        self, findings: Sequence[tuple[str, SeriesRef, str]], open_series: Sequence[SeriesRef],
        now_ms: int,
    ) -> list[Observation]:
        """Active observations for matching findings; cleared ones for open series not seen."""
        out: list[Observation] = []
        seen: set[SeriesRef] = set()
        for check, ref, detail in findings:
            if check != self.check or not self.scope.matches(ref.site, ref.device, ref.sensor):
                continue
            seen.add(ref)
            out.append(Observation(ref, now_ms, True, None, {"check": check, "detail": detail}))
        for ref in open_series:
            if ref not in seen:
                out.append(Observation(ref, now_ms, False, None, {"check": self.check}))
        return out
