"""The publisher role: put payloads on the wire and say when each one was acknowledged.

One small interface so the fleet runner does not care how connections are managed; the MQTT
implementation is :class:`simulators.mqtt_publisher.MqttPublisher`.
"""

from __future__ import annotations

from typing import Protocol


class Delivery:
    """The fate of one publish: ``acked`` once confirmed, ``failed`` if it never can be."""

    __slots__ = ("acked", "failed")

    def __init__(self) -> None:
        self.acked = False
        self.failed = False

    @property
    def done(self) -> bool:
        return self.acked or self.failed


class Publisher(Protocol):
    """Publishes over ``connections`` connections numbered 0..connections-1."""

    #: Number of connections (1 when shared).
    connections: int
    #: Connection losses and refused publishes so far.
    errors: int

    def start(self) -> None:
        """Connect; raises :class:`~simulators.errors.BrokerError` when that is impossible."""
        ...

    def publish(self, conn: int, topic: str, payload: bytes, qos: int) -> Delivery:
        """Queue one publish on connection ``conn``; never blocks on the network."""
        ...

    def wait(self, delivery: Delivery, timeout: float) -> bool:
        """Block until ``delivery`` is done or ``timeout`` seconds passed; True when done."""
        ...

    def stop(self) -> None:
        """Disconnect cleanly (outstanding publishes are abandoned)."""
        ...
