"""The paho driver against real Mosquitto: PUBACK, refusals, last will, reconnects, TLS."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from devices.errors import ConfigurationRefused, LinkError
from devices.mqtt.from_site import PasswordFileError, read_password
from devices.mqtt.paho_link import BrokerSettings, PahoLink, PublishRefused, TlsFiles
from gateway.mqtt.link import (
    BatchBroken,
    BatchResult,
    Incoming,
    LinkDown,
    LinkEvent,
    LinkUp,
    Outgoing,
    SessionPlan,
    Subscription,
)
from tests.mqtt.broker import Cutter, Observer, make_tls, wait_until
from tests.mqtt.conftest import BrokerFactory
from tests.mqtt.rig import GATEWAY_USER, PASSWORDS

PREFIX = "sekisho/link-test"
WILL = Outgoing(f"{PREFIX}/status", b"offline", qos=1, retain=True)


class Events:
    """A sink that keeps every link event."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.seen: list[LinkEvent] = []

    def __call__(self, ev: LinkEvent) -> None:
        """Keep an event."""
        self.seen.append(ev)

    def of(self, kind: type) -> list[LinkEvent]:
        """Events of one type, oldest first."""
        return [e for e in self.seen if isinstance(e, kind)]


def settings(port: int, **kw: object) -> BrokerSettings:
    """The gateway's broker settings for ``port``, with some fields replaced."""
    base = BrokerSettings(
        host="127.0.0.1",
        port=port,
        client_id="sekisho-link-test",
        username=GATEWAY_USER,
        password=PASSWORDS[GATEWAY_USER],
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
        connect_timeout_s=5.0,
    )
    return dataclasses.replace(base, **kw)


async def test_publish_resolves_on_puback_and_fails_cleanly_when_down(
    own_broker: BrokerFactory,
) -> None:
    """A QoS 1 publish resolves once the broker has it; with the link down it fails at once
    with a LinkError (a DeviceFault), never a paho exception."""
    broker = own_broker(PREFIX)
    obs = Observer(broker.port, username="observer", password=PASSWORDS["observer"])
    obs.start(f"{PREFIX}/#")
    link = PahoLink(settings(broker.port))
    events = Events()
    with pytest.raises(LinkError):
        await link.publish(Outgoing(f"{PREFIX}/event/x", b"{}"))  # not started
    await link.start(events, SessionPlan(WILL, [Subscription(f"{PREFIX}/cmd/#")]))
    try:
        await wait_until(lambda: link.connected, what="connected")
        await link.publish(Outgoing(f"{PREFIX}/event/x", b'{"n":1}', expiry_s=30))
        await wait_until(lambda: bool(obs.on(f"{PREFIX}/event/x")), what="delivered")
        assert obs.on(f"{PREFIX}/event/x")[0].payload == b'{"n":1}'
        # the ACL does not let the gateway write under cmd/: the broker refuses, typed
        with pytest.raises(PublishRefused, match="Not authorized"):
            await link.publish(Outgoing(f"{PREFIX}/cmd/alice/door/x", b"{}"))
        with pytest.raises(PublishRefused):
            await link.publish(Outgoing(f"{PREFIX}/bad/+/topic", b"{}"))  # wildcard
        await asyncio.to_thread(broker.stop)
        await wait_until(lambda: bool(events.of(LinkDown)), what="link down")
        with pytest.raises(LinkError):
            await link.publish(Outgoing(f"{PREFIX}/event/x", b"{}"))
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: len(events.of(LinkUp)) == 2, what="reconnected")
    finally:
        await link.stop()
        obs.stop()
    assert not link.connected


async def test_a_batch_arrives_in_order_with_one_answer_naming_refusals(
    own_broker: BrokerFactory,
) -> None:
    """``publish_batch``: every message reaches subscribers in order; one answer for all, which
    lists the messages the broker refused (its ACL) or paho could not send (a wildcard); with
    the link down it fails at once, nothing answered."""
    broker = own_broker(PREFIX)
    obs = Observer(broker.port, username="observer", password=PASSWORDS["observer"])
    obs.start(f"{PREFIX}/#")
    link = PahoLink(settings(broker.port))
    with pytest.raises(BatchBroken) as down:
        await link.publish_batch([Outgoing(f"{PREFIX}/event/b", b"{}")])  # not started
    assert down.value.answered == 0
    await link.start(Events(), SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.connected, what="connected")
        msgs = [Outgoing(f"{PREFIX}/event/b", f'{{"n":{i}}}'.encode()) for i in range(300)]
        msgs[150] = Outgoing(f"{PREFIX}/cmd/alice/door/x", b"{}")  # the ACL refuses it
        msgs[200] = Outgoing(f"{PREFIX}/bad/+/topic", b"{}")  # not a topic one may publish
        result = await link.publish_batch(msgs)
        assert [i for i, _ in result.refused] == [150, 200]
        assert "Not authorized" in result.refused[0][1]
        want = [m.payload for i, m in enumerate(msgs) if i not in (150, 200)]
        await wait_until(lambda: len(obs.on(f"{PREFIX}/event/b")) >= 298, what="all 298")
        assert [m.payload for m in obs.on(f"{PREFIX}/event/b")] == want
        assert await link.publish_batch([]) == BatchResult()
    finally:
        await link.stop()
        obs.stop()


async def test_a_batch_cut_short_says_how_many_were_answered(own_broker: BrokerFactory) -> None:
    """The line drops mid-batch: the batch fails with the number of leading messages the
    broker answered, and every one of those did reach the broker (its subscribers have it)."""
    broker = own_broker(PREFIX)
    cutter = await Cutter(broker.port).start()
    obs = Observer(broker.port, username="observer", password=PASSWORDS["observer"])
    obs.start(f"{PREFIX}/event/#")
    link = PahoLink(settings(cutter.port))
    await link.start(Events(), SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.connected, what="connected")
        msgs = [Outgoing(f"{PREFIX}/event/c", f"{i}".encode()) for i in range(20_000)]
        fut = link.publish_batch(msgs)
        await wait_until(lambda: len(obs.on(f"{PREFIX}/event/c")) >= 200, what="some through")
        cutter.cut()
        with pytest.raises(BatchBroken) as cut:
            await fut
        answered = cut.value.answered
        assert 200 <= answered < len(msgs)
        await wait_until(
            lambda: len(obs.on(f"{PREFIX}/event/c")) >= answered, what="the answered ones"
        )
        seen = [int(m.payload) for m in obs.on(f"{PREFIX}/event/c")]
        assert seen[:answered] == list(range(answered))  # in order, none missing
    finally:
        await link.stop()
        await cutter.stop()
        obs.stop()


async def test_last_will_on_a_lost_line_but_not_on_a_clean_stop(
    own_broker: BrokerFactory,
) -> None:
    """The broker publishes the will (``offline``, retained) when the line is lost; a clean
    stop sends none (the service publishes ``offline`` itself before it)."""
    broker = own_broker(PREFIX)
    cutter = await Cutter(broker.port).start()
    obs = Observer(broker.port, username="observer", password=PASSWORDS["observer"])
    obs.start(f"{PREFIX}/status")
    link = PahoLink(settings(cutter.port, keepalive_s=5))
    events = Events()
    await link.start(events, SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.connected, what="connected")
        cutter.cut()
        await wait_until(lambda: bool(obs.on(f"{PREFIX}/status")), what="the will")
        assert obs.on(f"{PREFIX}/status")[-1].payload == b"offline"
        cutter.restore()
        await wait_until(lambda: len(events.of(LinkUp)) == 2, what="back")
        before = len(obs.on(f"{PREFIX}/status"))
        await link.stop()
        await asyncio.sleep(0.5)
        assert len(obs.on(f"{PREFIX}/status")) == before  # no will on a clean disconnect
    finally:
        await link.stop()
        await cutter.stop()
        obs.stop()


async def test_wrong_password_never_comes_up(own_broker: BrokerFactory) -> None:
    """The broker refuses the login: no LinkUp, and the link says why."""
    broker = own_broker(PREFIX)
    link = PahoLink(settings(broker.port, password="wrong"))
    events = Events()
    await link.start(events, SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.attempts >= 2, what="two attempts")
        assert events.of(LinkUp) == []
        assert link.last_error is not None and "refused" in link.last_error
    finally:
        await link.stop()


async def test_retained_messages_are_withheld_or_flagged_as_asked(
    own_broker: BrokerFactory,
) -> None:
    """A subscription with ``retained=False`` gets no stored retained message; with
    ``see_retain_flag`` a retained publish arrives flagged; expiry is passed through."""
    broker = own_broker(PREFIX, extra_acl=["user alice", f"topic write {PREFIX}/cmd/#"])
    alice = Observer(broker.port, username="alice", password=PASSWORDS["alice"]).start()
    alice.publish(f"{PREFIX}/cmd/alice/door/d1", b"stored", retain=True)
    link = PahoLink(settings(broker.port))
    events = Events()
    sub = Subscription(f"{PREFIX}/cmd/#", retained=False, see_retain_flag=True)
    await link.start(events, SessionPlan(WILL, [sub]))
    try:
        await wait_until(lambda: link.connected, what="connected")
        alice.publish(f"{PREFIX}/cmd/alice/door/d1", b"live", retain=True, expiry_s=20)
        await wait_until(lambda: bool(events.of(Incoming)), what="the live one")
        await asyncio.sleep(0.2)
        got = [e for e in events.of(Incoming) if isinstance(e, Incoming)]
        assert [(e.payload, e.retain) for e in got] == [(b"live", True)]
        assert got[0].expiry_s is not None and 0 < got[0].expiry_s <= 20
        alice.publish(f"{PREFIX}/cmd/alice/door/d1", b"", retain=True)
    finally:
        await link.stop()
        alice.stop()


async def test_tls_verifies_the_broker_and_presents_a_client_certificate(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """TLS (4-8-6(10)): with our CA and client certificate the link comes up and publishes;
    with another CA, or a certificate for another host name, it never does."""
    tls = make_tls(tmp_path / "tls")
    broker = own_broker(PREFIX, tls=tls, require_certificate=True)
    good = TlsFiles(str(tls.ca), str(tls.client_cert), str(tls.client_key))
    link = PahoLink(settings(broker.port, tls=good))
    events = Events()
    await link.start(events, SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.connected, what="TLS link up")
        await link.publish(Outgoing(f"{PREFIX}/event/tls", b"{}"))
    finally:
        await link.stop()

    for files, why in (
        (
            TlsFiles(str(tls.other_ca), str(tls.client_cert), str(tls.client_key)),
            "certificate verify failed",  # we do not trust the broker
        ),
        (TlsFiles(str(tls.ca)), "connection lost"),  # the broker does not trust us
    ):
        bad = PahoLink(settings(broker.port, tls=files))
        ev = Events()
        await bad.start(ev, SessionPlan(WILL, []))
        try:
            await wait_until(lambda b=bad: b.attempts >= 2, what="attempts")
            assert ev.of(LinkUp) == []
            assert bad.last_error is not None and why in bad.last_error
        finally:
            await bad.stop()


async def test_tls_checks_the_host_name(tmp_path: Path, own_broker: BrokerFactory) -> None:
    """A certificate from the right CA but for another name is refused (insecure is off)."""
    tls = make_tls(tmp_path / "tls", server_names=("broker.example.invalid",))
    broker = own_broker(PREFIX, tls=tls)
    link = PahoLink(
        settings(broker.port, tls=TlsFiles(str(tls.ca), str(tls.client_cert), str(tls.client_key)))
    )
    events = Events()
    await link.start(events, SessionPlan(WILL, []))
    try:
        await wait_until(lambda: link.attempts >= 2, what="attempts")
        assert events.of(LinkUp) == []
        assert link.last_error is not None and "certificate" in link.last_error.lower()
    finally:
        await link.stop()


def test_unusable_tls_files_and_password_files_are_typed_errors(tmp_path: Path) -> None:
    """Missing TLS files, and password files that are missing or readable by others, are
    refused before anything connects."""
    with pytest.raises(ConfigurationRefused, match="TLS"):
        PahoLink(settings(1883, tls=TlsFiles(str(tmp_path / "missing-ca.pem"))))
    pw = tmp_path / "pw"
    with pytest.raises(PasswordFileError, match="cannot read"):
        read_password(pw)
    pw.write_text("secret\n", encoding="utf-8")
    pw.chmod(0o644)
    with pytest.raises(PasswordFileError, match="readable by others"):
        read_password(pw)
    pw.chmod(0o600)
    assert read_password(pw) == "secret"
