"""Errors raised by the simulator. The CLI turns each into one line on stderr and an exit code.

Hierarchy::

    SimulatorError        base; ``exit_code`` is what the CLI returns
    ├── ConfigError       a flag, fault spec or degradation spec is wrong (exit 2)
    ├── ReplayFileError   the CSV to replay cannot be read or has no usable rows (exit 2)
    └── BrokerError       the MQTT broker cannot be used (exit 3)
        ├── BrokerUnreachable  no TCP/TLS connection could be made
        └── BrokerRefused      the broker answered CONNACK with a refusal (credentials, ...)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""

    exit_code = 1


class ConfigError(SimulatorError, ValueError):
    """A user-supplied setting is invalid; the message names the flag and what to do."""

    exit_code = 2


class ReplayFileError(SimulatorError):
    """The CSV file to replay is missing, unreadable or has no usable rows."""

    exit_code = 2


class BrokerError(SimulatorError):
    """The broker cannot be used for publishing."""

    exit_code = 3


class BrokerUnreachable(BrokerError):
    """No connection to the broker's address could be made."""


class BrokerRefused(BrokerError):
    """The broker refused the MQTT connection (bad credentials, not authorised, ...)."""
