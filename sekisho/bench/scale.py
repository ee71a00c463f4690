"""The simulated site at scale: firmware-sim and a real gateway as processes, then measure.

With the smaller population (100,000 credentials) the run badges at every door, asks the
gateway for decision times, offers it card reads faster than it can take them, appends records
from many writers, builds an MQTT backlog (the line to the broker cut by a relay) and a
recorder retry backlog (the database locked by another connection) and times their drain. With
the big population (2,000,000) it measures the gateway's memory, lookups and decisions, and
badges for a shorter while to show the badge path unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sekisho.bench.badge_run import run_badges
from sekisho.bench.figures import spread
from sekisho.bench.mqtt_watch import Relay, Subscriber, broker_up
from sekisho.bench.population import Population, ensure
from sekisho.bench.processes import BenchProcessError, GatewayProcess, SimProcess
from sekisho.bench.report import Results
from sekisho.bench.scale_site import SITE_ID, Layout, site_file
from sekisho.bench.waiting import until
from sekisho.demo_site import write_yaml

Say = Callable[[str], None]
SMALL_KEYS = (
    "badge_to_strike_p99_ms",
    "gateway_path_p99_ms",
    "decision_p99_ms",
    "decision_p999_ms",
    "durable_decisions_per_s",
    "ingest_per_s",
    "mqtt_backlog_drain_s",
    "retry_backlog_drain_s",
    "mqtt_latency_p99_ms",
)
BIG_KEYS = ("lookup_p99_2m_ms", "decision_p99_2m_ms", "peak_rss_2m_mib")


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    """How big and how long (``--quick`` shrinks the durations, not the site)."""

    credentials: int = 100_000
    big_credentials: int = 2_000_000
    badge_s: float = 60.0
    big_badge_s: float = 20.0
    decisions: int = 20_000
    inject_per_s: float = 2000.0
    inject_s: float = 10.0
    ingest: int = 50_000
    ingest_writers: int = 64
    backlog: int = 50_000  # events in the MQTT outbox backlog
    # Records in the recorder's retry backlog: each 512 the log refuses cost SQLite's 5 s busy
    # timeout to be refused, so 50,000 would take 8 minutes just to build.
    retry_backlog: int = 5_000
    layout: Layout = field(default_factory=Layout)


async def run_scale(
    settings: ScaleSettings, results: Results, work: Path, cache: Path, say: Say
) -> None:
    """Measure the scale figures into ``results`` (what fails is marked unavailable)."""
    await ScaleRun(settings, results, work, cache, say).run()


@dataclass
class ScaleRun:
    """One scale measurement: the sim process, and a gateway process per population."""

    settings: ScaleSettings
    results: Results
    work: Path
    cache: Path
    say: Say
    sim: SimProcess | None = None
    ingest_note: str = ""

    @property
    def layout(self) -> Layout:
        """The site's layout."""
        return self.settings.layout

    async def run(self) -> None:
        """Start the sim, measure both populations, stop the sim."""
        layout = self.layout
        self.sim = SimProcess(layout, self.work)
        self.say(
            f"starting firmware-sim: {layout.doors} doors, {2 * layout.doors} OSDP readers on "
            f"{layout.buses} buses, {layout.modules} Modbus modules"
        )
        try:
            await self.sim.start()
        except BenchProcessError as exc:
            self.results.missing(SMALL_KEYS + BIG_KEYS, f"firmware-sim did not start: {exc}")
            return
        try:
            mqtt = broker_up()
            if not mqtt:
                self.results.missing(
                    ("mqtt_backlog_drain_s", "mqtt_latency_p99_ms"),
                    "no MQTT broker at 127.0.0.1:1883",
                )
            for count, part, keys in (
                (self.settings.credentials, self._small, SMALL_KEYS),
                (self.settings.big_credentials, self._big, BIG_KEYS),
            ):
                if not count:
                    continue
                try:
                    await part(mqtt=mqtt)
                except (BenchProcessError, TimeoutError, OSError, ValueError) as exc:
                    self.say(f"  failed: {exc}")
                    self.results.missing(keys, str(exc))
        finally:
            await self.sim.stop()

    async def _gateway(
        self, population: Population, *, mqtt_port: int | None = None
    ) -> tuple[GatewayProcess, dict[str, Any], dict[str, Any]]:
        """A gateway process on a copy of the population's database, devices up."""
        assert self.sim is not None
        db = f"sekisho-{population.count}.db"
        self.say(f"preparing {population.count:,} credentials (kept in {self.cache})")
        made = await asyncio.to_thread(ensure, population, self.cache, self.work / db)
        if made:
            self.say(f"  generated in {made:.0f} s")
        site = site_file(self.layout, self.work, self.sim.modules, mqtt_port=mqtt_port)
        site["storage"] = {"path": db}
        site_path = self.work / f"site-{population.count}.yaml"
        write_yaml(site_path, site)
        gateway = GatewayProcess(site_path, self.work)
        self.say("starting the gateway process (loads the index, starts drivers and the API)")
        ready = await gateway.start(timeout_s=1800)
        try:
            devices = await gateway.ask("wait_devices", within_s=180)
        except BenchProcessError:
            await gateway.stop()
            raise
        self.say(
            f"  up in {ready['startup_s']:.1f} s with {ready['credentials']:,} credentials, "
            f"RSS {ready.get('rss', 0):.0f} MiB; {devices['readers']} readers with Secure "
            f"Channel and {devices['doors']} doors locked {devices['s']:.1f} s later"
        )
        return gateway, ready, site

    def _population(self, count: int) -> Population:
        """The population of ``count`` people over the layout's zones."""
        return Population(SITE_ID, count, self.layout.zone_ids)

    async def _small(self, *, mqtt: bool) -> None:
        """The 100,000-credential figures."""
        population = self._population(self.settings.credentials)
        relay = Relay() if mqtt else None
        subscriber: Subscriber | None = None
        if relay is not None:
            await relay.start()
        gateway, _ready, site = await self._gateway(
            population, mqtt_port=relay.port if relay else None
        )
        section: dict[str, Any] = {"credentials": population.count}
        self.results.sections["site"] = section
        try:
            if relay is not None:
                subscriber = Subscriber(str(site["mqtt"]["prefix"]))
                await asyncio.to_thread(subscriber.start)
            await self._badges(gateway, population, section, subscriber)
            await self._decisions(gateway, population, section)
            await self._ingest(gateway, section, mqtt=relay is not None)
            await self._sustained(gateway, population, section)
            if relay is not None and subscriber is not None:
                await self._mqtt_backlog(gateway, relay, subscriber, section)
            await self._retry_backlog(gateway, population, section)
        finally:
            if subscriber is not None:
                subscriber.stop()
            await gateway.stop()
            if relay is not None:
                await relay.stop()

    async def _badges(
        self,
        gateway: GatewayProcess,
        population: Population,
        section: dict[str, Any],
        subscriber: Subscriber | None,
    ) -> None:
        """Badge → strike, the gateway path, and MQTT latency while badging."""
        assert self.sim is not None
        layout, seconds = self.layout, self.settings.badge_s
        await gateway.ask("mark")
        self.say(f"badging at {layout.doors} doors, 1 badge/s each, for {seconds:.0f} s")
        run = await run_badges(self.sim, layout, population, seconds)
        stats = await gateway.ask("stats")
        section["badges"] = run.summary()
        b = spread(run.latencies_ms)
        path = spread([ns / 1e6 for ns in stats["grant_path_ns"]])
        self.results.put(
            "badge_to_strike_p99_ms", b.p99,
            f"p50 {b.p50:.1f}, max {b.max:.1f} ms; {b.n:,} badges ({run.unmatched} without "
            f"a strike) at {layout.doors} doors, {population.count:,} credentials",
        )  # fmt: skip
        self.results.put(
            "gateway_path_p99_ms", path.p99,
            f"p50 {path.p50:.2f}, max {path.max:.2f} ms over {path.n:,} grants",
        )  # fmt: skip
        section["gateway_path_ms"] = path.as_dict()
        if subscriber is None:
            return
        await asyncio.sleep(1.0)
        arrived = subscriber.snapshot("access.decision")
        lat = [(arrived[s] - ns) / 1e6 for s, ns in stats["commits"] if s in arrived]
        m = spread(lat)
        section["mqtt_latency_ms"] = m.as_dict()
        self.results.put(
            "mqtt_latency_p99_ms", m.p99,
            f"record committed → subscriber: p50 {m.p50:.1f}, max {m.max:.1f} ms, "
            f"{m.n:,} of {len(stats['commits']):,} decisions, during the badge run",
        )  # fmt: skip

    async def _decisions(
        self, gateway: GatewayProcess, population: Population, section: dict[str, Any]
    ) -> dict[str, Any]:
        """Decision and lookup times inside the gateway process."""
        self.say(f"decision and lookup times for {self.settings.decisions:,} people")
        answer = await gateway.ask(
            "decisions",
            population=population.count,
            zones=list(population.zones),
            count=self.settings.decisions,
        )
        decisions = {k: v for k, v in answer.items() if k != "ok"}
        section["decisions"] = decisions
        if population.count == self.settings.credentials:
            first = decisions["first"]["decision_ms"]
            again = decisions["again"]["decision_ms"]
            self.results.put(
                "decision_p99_ms", first["p99"],
                f"p50 {first['p50']:.3f} ms; lookup + decide with every rule on, first "
                f"presentation of each card, {population.count:,} credentials; presented "
                f"again (cached): p99 {again['p99']:.3f} ms",
            )  # fmt: skip
            self.results.put("decision_p999_ms", first["p99.9"], f"max {first['max']:.2f} ms")
        return decisions

    async def _sustained(
        self, gateway: GatewayProcess, population: Population, section: dict[str, Any]
    ) -> None:
        """Card reads offered faster than they can be taken: decisions recorded per second."""
        rate, seconds = self.settings.inject_per_s, self.settings.inject_s
        self.say(f"offering {rate:,.0f} card reads/s for {seconds:.0f} s")
        answer = await gateway.ask(
            "inject",
            population=population.count,
            zones=list(population.zones),
            rate=rate,
            seconds=seconds,
        )
        section["sustained"] = {k: v for k, v in answer.items() if k != "ok"}
        self.results.put(
            "durable_decisions_per_s", answer["recorded_per_s"],
            f"{answer['recorded']:,} decisions in {answer['elapsed_s']:.1f} s, each committed "
            f"before its strike; {rate:,.0f}/s offered at the driver boundary; gateway path "
            f"p99 {answer['grant_path_ms']['p99']:.1f} ms under that load",
        )  # fmt: skip

    async def _ingest(
        self, gateway: GatewayProcess, section: dict[str, Any], *, mqtt: bool
    ) -> None:
        """Records appended by many writers (group commit).

        The gateway with MQTT on (when there is a broker) gives the figure: every record it
        publishes is also sent to the broker, its delivery cursor stored in the same database.
        The big population's gateway runs without MQTT and appends again (``_big``), for the
        log's own rate.
        """
        count, writers = self.settings.ingest, self.settings.ingest_writers
        self.say(f"appending {count:,} records from {writers} writers")
        answer = await gateway.ask("ingest", count=count, writers=writers)
        section["ingest"] = {"records": answer["records"], "s": answer["s"], "mqtt": mqtt}
        outbox = "on: each published record also delivered to the broker" if mqtt else "off"
        self.ingest_note = (
            f"{answer['records']:,} records, each awaited until durable, into the signed log "
            f"(SQLite WAL, synchronous=FULL), MQTT {outbox}"
        )
        self.results.put("ingest_per_s", answer["per_s"], self.ingest_note)

    async def _mqtt_backlog(
        self,
        gateway: GatewayProcess,
        relay: Relay,
        subscriber: Subscriber,
        section: dict[str, Any],
    ) -> None:
        """Records written while the line to the broker is cut, then the time to deliver them."""
        count = self.settings.backlog
        self.say(f"MQTT backlog: {count:,} records written while the broker is cut off")
        relay.cut()
        await asyncio.sleep(1.0)
        written = await gateway.ask("ingest", count=count, writers=16, kind="backlog")
        seqs = set(written["seqs"])
        restored = time.perf_counter_ns()
        relay.open = True
        await until(lambda: seqs <= subscriber.snapshot("system").keys(), 600, 0.1)
        arrived = subscriber.snapshot("system")
        got = [arrived[s] for s in seqs if s in arrived]
        if len(got) < len(seqs):
            self.results.missing(
                ("mqtt_backlog_drain_s",), f"only {len(got):,} of {len(seqs):,} events arrived"
            )
            return
        drain = (max(got) - restored) / 1e9
        section["mqtt_backlog"] = {"events": len(seqs), "drain_s": drain}
        self.results.put(
            "mqtt_backlog_drain_s", drain,
            f"{len(seqs):,} events ({len(seqs) / drain:,.0f}/s), from the line's return, "
            "reconnect back-off included",
        )  # fmt: skip

    async def _retry_backlog(
        self, gateway: GatewayProcess, population: Population, section: dict[str, Any]
    ) -> None:
        """Records the log refused while locked, held by the recorder, then drained."""
        count = self.settings.retry_backlog
        self.say(f"recorder retry backlog: {count:,} records held while the database is locked")
        db = self.work / f"sekisho-{population.count}.db"
        answer = await gateway.ask("retry_backlog", count=count, db=str(db))
        section["retry_backlog"] = {k: v for k, v in answer.items() if k != "ok"}
        held, drain = answer["held"], answer["drain_s"]
        self.results.put(
            "retry_backlog_drain_s", drain,
            f"{held:,} records held in memory, then written in order one by one "
            f"({held / drain:,.0f}/s) once the lock went",
        )  # fmt: skip

    async def _log_alone(self, gateway: GatewayProcess, section: dict[str, Any]) -> None:
        """Ingest again in a gateway without MQTT: the record log's own rate, as a note."""
        count, writers = self.settings.ingest, self.settings.ingest_writers
        self.say(f"appending {count:,} records from {writers} writers (MQTT off)")
        answer = await gateway.ask("ingest", count=count, writers=writers)
        section["ingest_mqtt_off"] = {"records": answer["records"], "s": answer["s"]}
        if "ingest_per_s" in self.results.figures:
            self.results.put(
                "ingest_per_s",
                self.results.figures["ingest_per_s"],
                f"{self.ingest_note}; with MQTT off (the 2 M gateway): {answer['per_s']:,.0f}/s",
            )
        else:
            self.results.put("ingest_per_s", answer["per_s"], "MQTT off (the 2 M gateway)")

    async def _big(self, *, mqtt: bool) -> None:
        """The 2,000,000-credential figures: memory, lookups, decisions, a shorter badge run."""
        del mqtt  # the big gateway runs without MQTT: its figures are about memory
        assert self.sim is not None
        population = self._population(self.settings.big_credentials)
        gateway, ready, _site = await self._gateway(population)
        section: dict[str, Any] = {
            "credentials": population.count,
            "startup_s": ready["startup_s"],
            "store_bytes": ready["store_bytes"],
            "rss_ready_mib": ready.get("rss"),
        }
        self.results.sections["big"] = section
        try:
            decisions = await self._decisions(gateway, population, section)
            look = decisions["first"]["lookup_ms"]
            self.results.put(
                "lookup_p99_2m_ms", look["p99"],
                f"p50 {look['p50']:.3f}, p99.9 {look['p99.9']:.3f} ms, first presentation of "
                f"each card (presented again: p99 {decisions['again']['lookup_ms']['p99']:.4f} "
                "ms)",
            )  # fmt: skip
            first = decisions["first"]["decision_ms"]
            self.results.put(
                "decision_p99_2m_ms", first["p99"],
                f"p99.9 {first['p99.9']:.3f} ms, lookup + every rule, {population.count:,} "
                "credentials",
            )  # fmt: skip
            note = ""
            if self.settings.big_badge_s:
                await gateway.ask("mark")
                seconds = self.settings.big_badge_s
                self.say(f"badging at {self.layout.doors} doors for {seconds:.0f} s")
                run = await run_badges(self.sim, self.layout, population, seconds)
                section["badges"] = run.summary()
                path = spread([ns / 1e6 for ns in (await gateway.ask("stats"))["grant_path_ns"]])
                section["gateway_path_ms"] = path.as_dict()
                note = (
                    f"; meanwhile badge → strike p99 {spread(run.latencies_ms).p99:.1f} ms, "
                    f"gateway path p99 {path.p99:.1f} ms (MQTT off)"
                )
            await self._log_alone(gateway, section)
            stats = await gateway.ask("stats")
            section["rss_mib"] = stats.get("rss")
            section["peak_mib"] = stats.get("peak")
            index = sum(ready["store_bytes"].values()) / 2**20
            self.results.put(
                "peak_rss_2m_mib", float(stats.get("peak", stats["rss"])),
                f"the whole gateway process (API, drivers, stacks), its most resident memory "
                f"from start (loading included) to the end of the run; {stats['rss']:.0f} MiB "
                f"running; index {index:.0f} MiB, loaded in {ready['startup_s']:.0f} s{note}",
            )  # fmt: skip
        finally:
            with contextlib.suppress(BenchProcessError):
                await gateway.stop()
