"""The port to the MQTT broker: what a driver (``devices.mqtt``) implements, and its events.

The driver speaks MQTT v5 with a clean start on every connection and no session kept by the
broker, so nothing queued while Sekisho was away (a command least of all) is ever delivered
late; durability of outgoing events is the outbox's job, not the broker's or the client's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.ports import DeviceFault


class MessageRefused(DeviceFault):
    """The broker refused one message (its ACL, say): sending it again will not help."""


class BatchBroken(DeviceFault):
    """The link failed before the broker had answered every message of a batch.

    ``answered`` leading messages were answered (acknowledged, or refused as listed in
    ``refused``): they need not be sent again. The others may or may not have arrived.
    """

    def __init__(
        self, reason: str, answered: int, refused: tuple[tuple[int, str], ...] = ()
    ) -> None:
        """``reason`` for the failure; the answered prefix and its refusals."""
        super().__init__(reason)
        self.answered = answered
        self.refused = refused


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The broker answered every message of a batch: acknowledged, but for ``refused``."""

    refused: tuple[tuple[int, str], ...] = ()  # (index in the batch, the broker's reason)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    expiry_s: int | None = None  # MQTT v5 message expiry interval


@dataclass(frozen=True, slots=True)
class Subscription:
    """A topic filter to subscribe to on every connection."""

    topic_filter: str
    qos: int = 1
    retained: bool = True  # False: the broker must not send stored retained messages
    see_retain_flag: bool = False  # True: keep the publisher's retain flag (to refuse it)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What every connection sets up: the last will and the subscriptions."""

    will: Outgoing
    subscriptions: Sequence[Subscription]


@dataclass(frozen=True, slots=True)
class LinkUp:
    """Connected (CONNACK accepted) and subscribed; ``refused`` filters the broker refused."""

    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection is gone (or could not be made); every unacknowledged publish failed."""

    reason: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message the broker delivered on one of our subscriptions."""

    topic: str
    payload: bytes
    retain: bool
    expiry_s: int | None  # remaining message expiry interval, if the publisher set one
    received_ns: int  # time.perf_counter_ns() when the driver handed it over


LinkEvent = LinkUp | LinkDown | Incoming


class MqttLink(Protocol):
    """One broker connection, re-made by the driver when it is lost."""

    @property
    def connected(self) -> bool:
        """True between LinkUp and LinkDown."""

    async def start(self, sink: Callable[[LinkEvent], None], plan: SessionPlan) -> None:
        """Begin connecting (returns at once); events go to ``sink`` on the event-loop thread."""

    async def stop(self) -> None:
        """Disconnect cleanly (no last will); no event is delivered after this returns."""

    def publish(self, msg: Outgoing) -> asyncio.Future[None]:
        """Hand ``msg`` to the broker now, in call order.

        The future resolves when the broker acknowledged it (QoS 1) or it was written (QoS 0),
        and fails with a ``DeviceFault`` when the link is down, drops first, or the broker
        refuses the message (``MessageRefused``).
        """

    def publish_batch(self, msgs: Sequence[Outgoing]) -> asyncio.Future[BatchResult]:
        """Hand ``msgs`` to the broker now, in order, with one completion for all of them.

        The future resolves once the broker has answered every message (QoS 1: acknowledged or
        refused, the refusals listed; QoS 0: written), and fails with ``BatchBroken`` when the
        link is down or drops first, saying how many leading messages were answered. Cheaper
        than ``publish`` per message: no future, and no event-loop wake-up, per message.
        """
