"""``/v1/rules``: create, list, read, replace and delete alert rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field, TypeAdapter, create_model

from cloud.alerting.rules import (
    AnomalyRateRule,
    DeadmanRule,
    ForecastRule,
    PipelineRule,
    RateOfChangeRule,
    RuleSpec,
    ThresholdRule,
)
from cloud.alerting.rules.base import RuleBase
from cloud.alerting.rules.store import BrokenRule, StoredRule
from cloud.api.alerting_errors import Id
from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import RulesDep
from cloud.meta import Scope

router = APIRouter(prefix="/v1/rules", tags=["rules"],
                   route_class=AuthFirstRoute)
READ, ADMIN = RequireScope(Scope.READ), RequireScope(Scope.ADMIN)


def _stored(kind: type[RuleBase]) -> Any:
    """``kind`` plus the fields the store adds: ``id``, ``created_ms``, ``updated_ms``."""
    return create_model(
        f"Stored{kind.__name__}", __base__=kind, __doc__=f"A stored {kind.__name__}.",
        id=(str, ...), created_ms=(int, ...), updated_ms=(int, ...),
    )


#: A stored rule as the API shows it: the rule's specification plus its id and times.
RuleOut: Any = Annotated[
    _stored(ThresholdRule) | _stored(RateOfChangeRule) | _stored(DeadmanRule)
    | _stored(AnomalyRateRule) | _stored(ForecastRule) | _stored(PipelineRule),
    Field(discriminator="kind"),
]
_rule_out: TypeAdapter[Any] = TypeAdapter(RuleOut)


class BrokenRuleOut(BaseModel):
    """A stored rule that does not load: the evaluator skips it; fix it (PUT) or delete it."""

    id: str
    name: str
    kind: str
    load_error: str
    created_ms: int
    updated_ms: int


def _out(rule: StoredRule | BrokenRule) -> Any:
    if isinstance(rule, BrokenRule):
        return BrokenRuleOut(id=rule.id, name=rule.name, kind=rule.kind, load_error=rule.error,
                             created_ms=rule.created_ms, updated_ms=rule.updated_ms)
    return _rule_out.validate_python(
        {"id": rule.id, "created_ms": rule.created_ms, "updated_ms": rule.updated_ms,
         **rule.spec.model_dump()})


@router.post("", status_code=201, response_model=RuleOut, dependencies=[ADMIN])
def create_rule(spec: Annotated[RuleSpec, Body()], repo: RulesDep) -> Any:
    """Create a rule. `kind` is one of threshold, rate_of_change, deadman, anomaly_rate,
    forecast, pipeline; `scope` selects series by site/device/sensor patterns."""
    return _out(repo.create(spec))


@router.get("", response_model=list[RuleOut | BrokenRuleOut], dependencies=[READ])
def list_rules(repo: RulesDep) -> Any:
    """Every rule; one that does not load is listed with its `load_error`."""
    return [_out(r) for r in repo.load()]


@router.get("/{rule_id}", response_model=RuleOut | BrokenRuleOut, dependencies=[READ])
def get_rule(rule_id: Id, repo: RulesDep) -> Any:
    """One rule (with its `load_error` when it does not load)."""
    return _out(repo.get_any(rule_id))


@router.put("/{rule_id}", response_model=RuleOut, dependencies=[ADMIN])
def replace_rule(rule_id: Id, spec: Annotated[RuleSpec, Body()], repo: RulesDep) -> Any:
    """Replace a rule's specification."""
    return _out(repo.replace(rule_id, spec))


@router.delete("/{rule_id}", status_code=204, response_class=Response,
                dependencies=[ADMIN])
def delete_rule(rule_id: Id, repo: RulesDep) -> None:
    """Delete a rule (its alerts stay as records)."""
    repo.delete(rule_id)
