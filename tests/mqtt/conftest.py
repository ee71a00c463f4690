"""Fixtures for the MQTT tests: our own Mosquitto processes with users, an ACL and TLS."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.mqtt.broker import (
    LIVE_OBSERVERS,
    Mosquitto,
    TlsFiles,
    broker_conf,
    free_port,
    site_acl,
)
from tests.mqtt.rig import GATEWAY_USER, PASSWORDS

BrokerFactory = Callable[..., Mosquitto]


@pytest.fixture(autouse=True)
def _observers_stopped() -> Iterator[None]:
    """Every test observer still connected after a test (a failed one) is stopped."""
    yield
    for o in list(LIVE_OBSERVERS):
        o.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start Mosquitto processes on free ports; every one is stopped after the test.

    ``own_broker(prefix)`` gives a broker with the users of ``tests.mqtt.rig.PASSWORDS`` and
    the ACL of docs/mqtt.md for ``prefix``; ``tls=`` adds a TLS listener instead of plain TCP.
    """
    started: list[Mosquitto] = []

    def make(
        prefix: str | None = None,
        *,
        persistence: bool = False,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
        extra_acl: Iterable[str] = (),
        anonymous: bool = False,
    ) -> Mosquitto:
        """Start one broker (see the fixture's docstring)."""
        root = tmp_path / f"broker{len(started)}"
        root.mkdir()
        port = free_port()
        conf = broker_conf(
            root,
            port,
            users=None if anonymous else PASSWORDS,
            acl=None if prefix is None else site_acl(prefix, GATEWAY_USER, extra=extra_acl),
            tls=tls,
            require_certificate=require_certificate,
            persistence=persistence,
        )
        broker = Mosquitto(root, port, conf)
        broker.start()
        started.append(broker)
        return broker

    yield make
    for b in started:
        b.stop()
