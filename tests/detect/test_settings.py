"""DetectSettings: defaults, validation naming the key, the [detect] TOML table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.detect import DEFAULT_DETECTOR, DetectSettings, detector_class, load_detect_settings


def test_defaults_are_the_measured_default_detector_and_its_threshold():
    settings = DetectSettings()
    assert settings.enabled and settings.detector == DEFAULT_DETECTOR == "sentinel"
    assert settings.effective_threshold() == detector_class("sentinel").default_threshold
    assert settings.policy().warmup == settings.warmup
    assert settings.topic_for("gw-1", "dev-7", "temp") == "gateway/gw-1/anomalies/dev-7/temp"
    assert settings.state_path(Path("/data")) == Path("/data/detect")
    assert DetectSettings(state_dir=Path("/s")).state_path(Path("/data")) == Path("/s")


def test_explicit_threshold_wins():
    assert DetectSettings(threshold=0.8).effective_threshold() == 0.8


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"detector": "nope"}, "detector"),
        ({"threshold": 1.5}, "threshold"),
        ({"max_streams": 0}, "max_streams"),
        ({"anomaly_topic": "a/{colour}"}, "anomaly_topic"),
        ({"anomaly_topic": "a/#/{device}"}, "anomaly_topic"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_values_name_the_key(fields: dict[str, object], key: str):
    with pytest.raises(ValidationError) as info:
        DetectSettings(**fields)
    assert key in str(info.value)


def test_params_must_fit_the_detector():
    assert DetectSettings(detector="range", params={"low": -40, "high": 85}).params["low"] == -40
    with pytest.raises(ValidationError, match="params do not fit"):
        DetectSettings(detector="range", params={"colour": 1})
    with pytest.raises(ValidationError, match="params do not fit"):
        DetectSettings(detector="range", params={"low": 5, "high": 1})


def test_detect_table_of_a_gateway_toml(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nid = "gw"\n\n[detect]\ndetector = "hst"\nwarmup = 7\n')
    settings = load_detect_settings(path)
    assert settings.detector == "hst" and settings.warmup == 7
    assert load_detect_settings(path, {"detector": "sad"}).detector == "sad"
    bare = tmp_path / "bare.toml"
    bare.write_text('[gateway]\nid = "gw"\n')
    assert load_detect_settings(bare) == DetectSettings()


def test_sentinel_params_are_checked_at_start_up():
    with pytest.raises(ValidationError, match="params do not fit"):
        DetectSettings(params={"bins": 0})
    assert DetectSettings(params={"refractory": 10}).params == {"refractory": 10}
