"""The ``rules`` section of the pipeline-health report: stored rules that do not load.

A rule row that fails to load is skipped by the evaluator (every other rule keeps working);
this check makes it visible: its id and error in the section, and a ``rule_load`` finding,
so the report's status is ``degraded`` until the rule is fixed or deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.monitors.base import Finding
from cloud.alerting.rules.store import BrokenRule, RuleRepository


class RuleLoadCheck:
    """Lists the rules that do not load (the repository loads them one by one)."""

    name = "rules"

    def __init__(self, rules: RuleRepository) -> None:
        self._rules = rules

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """``{"loaded": n, "broken": [{"id", "name", "kind", "error"}]}`` and a finding each."""
        loaded = self._rules.load()
        broken = [r for r in loaded if isinstance(r, BrokenRule)]
        section = {"loaded": len(loaded) - len(broken),
                   "broken": [{"id": r.id, "name": r.name, "kind": r.kind, "error": r.error}
                              for r in broken]}
        findings = [Finding("rule_load", SeriesRef("", "", None),
                            f"rule {r.id} ({r.name}) does not load: {r.error}") for r in broken]
        return section, findings
