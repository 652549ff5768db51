"""Alert rules, one kind per module, and their evaluator.

Kinds: ``threshold`` (with for-duration and hysteresis), ``rate_of_change``, ``deadman``,
``anomaly_rate``, ``forecast`` (Theil-Sen trend projected against a limit) and ``pipeline``
(pipeline-health findings). :data:`RuleSpec` is the discriminated union the API accepts.
"""

from typing import Annotated

from pydantic import Field, TypeAdapter

from cloud.alerting.rules.anomaly_rate import AnomalyRateRule
from cloud.alerting.rules.base import (
    EvalContext,
    Observation,
    RuleBase,
    Scope,
    SeriesRef,
    SeriesSource,
    StreamInfo,
    render,
)
from cloud.alerting.rules.deadman import DeadmanRule
from cloud.alerting.rules.forecast import ForecastRule, Trend, theil_sen
from cloud.alerting.rules.pipeline import PipelineRule
from cloud.alerting.rules.rate_of_change import RateOfChangeRule
from cloud.alerting.rules.threshold import ThresholdRule

RuleSpec = Annotated[
    ThresholdRule | RateOfChangeRule | DeadmanRule | AnomalyRateRule | ForecastRule
    | PipelineRule,
    Field(discriminator="kind"),
]
rule_adapter: TypeAdapter[RuleSpec] = TypeAdapter(RuleSpec)

__all__ = [
    "AnomalyRateRule",
    "DeadmanRule",
    "EvalContext",
    "ForecastRule",
    "Observation",
    "PipelineRule",
    "RateOfChangeRule",
    "RuleBase",
    "RuleSpec",
    "Scope",
    "SeriesRef",
    "SeriesSource",
    "StreamInfo",
    "ThresholdRule",
    "Trend",
    "render",
    "rule_adapter",
    "theil_sen",
]
