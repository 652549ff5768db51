"""Typed settings of the alerting services, a nested section of the cloud's settings.

In ``cloud.toml`` they live under ``[alerting]`` (and ``[alerting.webhooks]``); in the
environment under the cloud's prefix with ``__`` as the nesting separator.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebhookSettings(BaseModel):
    """How webhook deliveries are sent and retried."""

    model_config = ConfigDict(extra="forbid")

    allow_loopback: bool = Field(
        default=False, description="Allow targets on 127.0.0.0/8 and ::1 (tests, one box)."
    )
    allow_private: bool = Field(
        default=False, description="Allow targets on private, link-local and non-public networks."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Per-attempt HTTP timeout.")
    max_attempts: int = Field(
        default=12, ge=1, le=50, description="Attempts before a delivery fails."
    )
    backoff_base_s: float = Field(
        default=5.0, gt=0, description="First retry delay (doubles each time)."
    )
    backoff_max_s: float = Field(
        default=4 * 3600.0, gt=0, description="Largest delay between two attempts."
    )
    retry_after_max_s: float = Field(
        default=6 * 3600.0, gt=0, description="Largest Retry-After a receiver may ask for."
    )
    claim_s: float = Field(
        default=60.0, gt=0, description="Lease of a claimed delivery."
    )
    batch: int = Field(
        default=20, ge=1, le=1000, description="Deliveries claimed per worker round."
    )
    poll_s: float = Field(default=1.0, gt=0, description="Worker idle poll interval.")
    ca_file: Path | None = Field(default=None, description=(
        "PEM file of the certificate authorities trusted for https receivers (a private CA); "
        "unset: the bundled public CAs. Certificates are always checked against the URL's "
        "host name, also when the connection goes to the address the SSRF check resolved."))

    @model_validator(mode="after")
    def _check(self) -> WebhookSettings:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be >= backoff_base_s")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {str(self.ca_file)!r} is not a readable file")
        return self


class AlertingSettings(BaseModel):
    """Rule evaluation, pipeline health and webhooks."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Run the evaluator and the delivery worker.")
    evaluate_every_s: float = Field(
        default=15.0, gt=0, description="Period of scheduled rules and monitors."
    )
    rules_refresh_s: float = Field(
        default=2.0, ge=0, description="Rule list cache per replica (0: none)."
    )
    bucket_s: int = Field(default=60, ge=1, le=3600, description="Width of volume and SLA buckets.")
    volume_baseline_buckets: int = Field(
        default=30, ge=3, le=10_000, description="Buckets in the rolling volume baseline."
    )
    volume_drop_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="Below baseline*ratio: drop."
    )
    volume_surge_ratio: float = Field(default=2.0, gt=1, description="Above baseline*ratio: surge.")
    stale_after_s: float = Field(
        default=300.0, gt=0, description="A device silent this long is stale."
    )
    sensor_vanished_after_s: float = Field(
        default=900.0, gt=0, description="Silent this long while its device reports: vanished."
    )
    sla_queryable_s: float = Field(
        default=60.0, gt=0, description="SLA: a reading counts as on time if queryable within N s."
    )
    record_flush_s: float = Field(
        default=1.0, ge=0, le=60,
        description="Ingest statistics (stream registry, volume, SLA counts) are merged in "
                    "memory and written at most this often (0: every batch).")
    sla_target: float = Field(default=0.99, gt=0, le=1, description="SLA target share.")
    sla_window_s: float = Field(default=3600.0, gt=0, description="Window of the SLA shares.")
    schema_window_s: float = Field(
        default=3600.0, gt=0, description="How long a schema change stays reported."
    )
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
