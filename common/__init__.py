"""Small runtime helpers both deployables use: settings loading, backoff, httpx hygiene.

``common`` imports nothing of ours, so ``gateway`` and ``cloud`` may both depend on it without
depending on each other (or on the ``iotgw`` product package). Modules:

- :mod:`common.settings` — the one settings loader (TOML file + environment), ``ConfigError``,
  the one error format and the one exit code for a bad configuration;
- :mod:`common.backoff` — capped exponential backoff with jitter, and ``Retry-After`` parsing;
- :mod:`common.httpx_hygiene` — breaking httpx's response<->stream reference cycle.
"""
