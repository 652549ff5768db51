"""``/v1/rules``: create, list, read, replace and delete alert rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from cloud.api.alerting_errors import Id, call
from cloud.rules import RuleSpec
from cloud.rules.store import RuleRepository, StoredRule


def _out(rule: StoredRule) -> dict[str, Any]:
    return {"id": rule.id, "created_ms": rule.created_ms, "updated_ms": rule.updated_ms,
            **rule.spec.model_dump()}


def router(repo: RuleRepository) -> APIRouter:
    """The rules resource over ``repo``."""
    api = APIRouter(prefix="/v1/rules", tags=["rules"])

    @api.post("", status_code=201)
    def create_rule(spec: Annotated[RuleSpec, Body()]) -> dict[str, Any]:
        """Create a rule. `kind` is one of threshold, rate_of_change, deadman, anomaly_rate,
        forecast, pipeline; `scope` selects series by site/device/sensor patterns."""
        return _out(call(lambda: repo.create(spec)))

    @api.get("")
    def list_rules() -> list[dict[str, Any]]:
        """Every rule."""
        return [_out(r) for r in repo.all()]

    @api.get("/{rule_id}")
    def get_rule(rule_id: Id) -> dict[str, Any]:
        """One rule."""
        return _out(call(lambda: repo.get(rule_id)))

    @api.put("/{rule_id}")
    def replace_rule(rule_id: Id, spec: Annotated[RuleSpec, Body()]) -> dict[str, Any]:
        """Replace a rule's specification."""
        return _out(call(lambda: repo.replace(rule_id, spec)))

    @api.delete("/{rule_id}", status_code=204)
    def delete_rule(rule_id: Id) -> Response:
        """Delete a rule (its alerts stay as records)."""
        call(lambda: repo.delete(rule_id))
        return Response(status_code=204)

    return api
