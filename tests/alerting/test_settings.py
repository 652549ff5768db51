"""The ``[alerting]`` section of ``cloud.toml``: read with the rest, validated at start-up with
one line naming the bad key."""

from __future__ import annotations

import pytest

from cloud.settings import load_settings
from common.settings import ConfigError


def test_alerting_settings_from_toml_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "cloud.toml"
    path.write_text("[alerting]\nevaluate_every_s = 5\nstale_after_s = 90\n\n"
                    "[alerting.webhooks]\nallow_loopback = true\nmax_attempts = 4\n")
    monkeypatch.setenv("IOTGW_CLOUD_ALERTING__WEBHOOKS__TIMEOUT_S", "3")
    s = load_settings(path).alerting
    assert (s.evaluate_every_s, s.stale_after_s) == (5.0, 90.0)
    assert (s.webhooks.allow_loopback, s.webhooks.allow_private) == (True, False)
    assert (s.webhooks.max_attempts, s.webhooks.timeout_s) == (4, 3.0)


@pytest.mark.parametrize(("toml", "key"), [
    ("[alerting.webhooks]\nmax_attempts = 0\n", "alerting.webhooks.max_attempts"),
    ("[alerting]\nvolume_drop_ratio = 2\n", "alerting.volume_drop_ratio"),
    ("[alerting]\nbogus = 1\n", "alerting.bogus"),
])
def test_a_bad_alerting_setting_names_its_key(tmp_path, toml, key):
    path = tmp_path / "cloud.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}: {key}:")
