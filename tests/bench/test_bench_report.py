"""The benchmark's own arithmetic: percentiles, targets, the table, the JSON round trip, the
change since an earlier run, strikes matched to badges, and the site layout's wiring."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.config.site import SiteConfig
from sekisho.bench.badge_run import Badge, BadgeRun, _match, person_of
from sekisho.bench.figures import TARGET_BY_KEY, TARGETS, percentile, spread
from sekisho.bench.population import Population, card_of, zone_of
from sekisho.bench.report import Results, ResultsError, load, print_table, save
from sekisho.bench.runner import FULL, QUICK, with_overrides
from sekisho.bench.scale_site import Layout, layout_for, sim_spec, site_file
from sekisho_sim.spec import SimSpec


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert percentile(values, 0.5) == 500
    assert percentile(values, 0.99) == 990
    assert percentile(values, 0.999) == 999
    s = spread(list(reversed(values)))
    assert (s.n, s.p50, s.p99, s.max, s.mean) == (1000, 500, 990, 1000, 500.5)
    assert spread([]).n == 0


def test_targets_know_which_way_is_better() -> None:
    strike = TARGET_BY_KEY["badge_to_strike_p99_ms"]
    assert strike.text() == "≤ 100 ms"
    assert strike.met(100.0) is True
    assert strike.met(100.1) is False
    rate = TARGET_BY_KEY["durable_decisions_per_s"]
    assert rate.text() == "≥ 500 /s"
    assert rate.met(499.0) is False
    assert TARGET_BY_KEY["mqtt_latency_p99_ms"].met(1e9) is None  # information only
    assert strike.met(None) is None


def test_the_table_and_the_json_carry_every_figure(tmp_path: Path) -> None:
    results = Results("quick", {"doors": 64})
    results.put("badge_to_strike_p99_ms", 42.5, "p50 30 ms")
    results.put("peak_rss_2m_mib", 600.0)
    results.missing(("verify_s",), "no audit log")
    results.finish()
    out = io.StringIO()
    print_table(results, out)
    table = out.getvalue()
    assert "✔ badge → strike p99" in table
    assert "42.50 ms" in table
    assert "p50 30 ms" in table
    assert "✘ gateway process peak RSS at 2 M credentials" in table
    assert "not available: no audit log" in table
    assert all(t.label in table for t in TARGETS)
    with pytest.raises(KeyError):
        results.put("no_such_figure", 1.0)

    path = save(results, tmp_path)
    data = load(path)
    assert data["figures"]["badge_to_strike_p99_ms"] == {
        "value": 42.5,
        "unit": "ms",
        "target": "≤ 100 ms",
        "ok": True,
        "on": "p50 30 ms",
        "unavailable": None,
    }
    assert data["figures"]["verify_s"]["value"] is None
    assert data["figures"]["verify_s"]["unavailable"] == "no audit log"

    later = Results("quick", {})
    later.put("badge_to_strike_p99_ms", 51.0)
    later.put("peak_rss_2m_mib", 450.0)
    out = io.StringIO()
    print_table(later, out, previous=data)
    lines = out.getvalue().splitlines()
    strike = next(ln for ln in lines if "badge → strike" in ln)
    assert strike.endswith("+8.50 ms (+20%)")
    rss = next(ln for ln in lines if "RSS" in ln)
    assert rss.endswith("-150 MiB (-25%)")
    assert next(ln for ln in lines if "verification" in ln).endswith("—")


def test_results_files_that_are_not_ours_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="cannot read"):
        load(bad)
    bad.write_text(json.dumps({"format": 99, "figures": {}}))
    with pytest.raises(ResultsError, match="not a `sekisho bench` results file"):
        load(bad)
    with pytest.raises(ResultsError):
        load(tmp_path / "missing.json")


def test_each_badge_gets_the_first_strike_after_it_at_its_door() -> None:
    door_a, door_b = Layout(doors=16).door_list()[:2]
    ms = 1_000_000
    run = BadgeRun(
        badges=[
            Badge(door_a, door_a.entry_reader, 1000 * ms),
            Badge(door_a, door_a.exit_reader, 2000 * ms),
            Badge(door_b, door_b.entry_reader, 1000 * ms),
            Badge(door_b, door_b.exit_reader, 2000 * ms),
        ]
    )
    releases = {
        (door_a.module_id, door_a.coil): [900 * ms, 1040 * ms, 1060 * ms, 2030 * ms],
        (door_b.module_id, door_b.coil): [2500 * ms],  # the first badge there opened nothing
    }
    _match(run, releases)
    # door A: 1.0 s → 1.04 s and 2.0 s → 2.03 s (the strike before the first badge and the
    # one in between belong to nobody); door B: the strike at 2.5 s came after its second
    # badge, so it is that badge's, and the first badge opened nothing.
    assert sorted(run.latencies_ms) == [30.0, 40.0, 500.0]
    assert run.unmatched == 1


def test_the_layout_wires_64_doors_and_128_readers(tmp_path: Path) -> None:
    layout = Layout()
    doors = layout.door_list()
    assert len(doors) == 64
    assert {d.zone for d in doors} == set(range(8))
    assert {d.bus for d in doors} == set(range(8))
    spec = SimSpec.model_validate(sim_spec(layout, tmp_path))
    assert len(spec.reader_ids) == 128
    assert len(spec.door_ids) == 64
    site = SiteConfig.model_validate(
        site_file(layout, tmp_path, {f"io-{m}": 1000 + m for m in range(4)}, mqtt_port=1883)
    )
    assert len(site.readers) == 128
    assert all(z.anti_passback.value == "soft" and z.require_purpose for z in site.zones)
    assert site.mqtt is not None
    small = layout_for(4)
    assert small is not None
    assert (small.doors, small.zones, small.buses) == (4, 4, 1)
    assert layout_for(None) is None
    with pytest.raises(ValueError, match="126 readers"):
        Layout(doors=128, buses=1)


def test_people_badge_only_where_they_are_authorized() -> None:
    layout = Layout()
    population = Population("bench", 100_000, layout.zone_ids)
    people = {person_of(layout, population, d): d for d in layout.door_list()}
    assert len(people) == 64  # someone different at each door
    for person, door in people.items():
        assert zone_of(population, person) == door.zone_id
    assert card_of(65536 + 7) == "H10301:1:7"
    with pytest.raises(ValueError, match="too small"):
        person_of(layout, Population("bench", 10, layout.zone_ids), layout.door_list()[-1])


def test_command_line_values_override_the_mode() -> None:
    tuned = with_overrides(QUICK, credentials=5, badge_s=None, audit_records=7)
    assert tuned.scale.credentials == 5
    assert tuned.scale.badge_s == QUICK.scale.badge_s
    assert tuned.audit_records == 7
    assert FULL.scale.big_credentials == 2_000_000
    assert FULL.audit_records == 10_000_000
