"""Tests of rig.lab without a coordinator: farm: in rig.yaml, the place's resources -> roles, leases, reap decisions,
places.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.config import config_from_dict
from rig.errors import ConfigError
from rig.lab.coordinator import ExportedResource, FarmError, PlaceInfo
from rig.lab.lease import Lease, LeaseStore, stale
from rig.lab.place import bench_from_place
from rig.lab.reap import decide
from rig.lab.resources import Endpoint
from rig.lab.sync import load_places


def farm_config(**farm: Any) -> dict[str, Any]:
    return {
        "station": {"name": "farm"},
        "dut": {"kind": "network", "attestation": "allow-test-paa"},
        "stimulus": "trigger",
        "farm": {"tags": {"rig": "virtual"}, "roles": {"instruments": {"meter": "m", "ac": "ac"}}, **farm},
        "instruments": {
            "meter": {"driver": "eastron_sdm630", "transport": {"kind": "modbus_tcp", "host": "127.0.0.1"}},
            "ac": {"driver": "chroma_61500", "transport": {"kind": "visa", "resource": "TCPIP0::x::1::SOCKET"}},
        },
    }


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


# ------------------------------------------------------------------------------------------------ rig.yaml farm:
def test_farm_section_is_validated_with_paths_and_allowed_values() -> None:
    cfg = config_from_dict(farm_config(lease_ttl=20))
    assert cfg.farm is not None and cfg.farm.lease_ttl == 20 and cfg.farm.selection() == "tags rig=virtual"
    assert "farm.bogus: unknown key 'bogus'; allowed keys: coordinator, place, tags" in error_of(farm_config(bogus=1))
    assert "farm.tags" in error_of(farm_config(tags={"Rig": "x"}))
    assert "exactly one of place" in error_of(farm_config(place="bench-a"))
    assert "farm.coordinator" in error_of(farm_config(coordinator="lab-coord"))
    assert "farm.lease_ttl" in error_of(farm_config(lease_ttl=1))
    data = farm_config(roles={"instruments": {"meter": "m", "ac": "ac", "scope": "s"}})
    assert "farm.roles.instruments.scope: no instrument role 'scope'" in error_of(data)
    data = farm_config(roles={"instruments": {"meter": "m"}})
    assert "instrument role 'ac' has no resource of the place" in error_of(data)
    data = farm_config()
    data["dut"] = {"kind": "virtual"}
    assert "dut.kind" in error_of(data)


# ----------------------------------------------------------------------------------------- resources -> roles
def res(name: str, cls: str, **params: Any) -> ExportedResource:
    return ExportedResource(name, cls, params, "exp-a", "bench-a")


PLACE = [
    res("dut", "MatterDevice", host="fd00::2", port=5540, node_id=0x1002, discriminator=77, netns="rig-farm-a"),
    res("m", "RigModbusDevice", host="10.0.0.5", port=1502, unit=3),
    res("ac", "RigScpiSocket", host="10.0.0.6", port=5025),
]


def direct(cls: str, params: dict[str, Any], extra: dict[str, Any]) -> Endpoint:
    return Endpoint(params["host"], int(params["port"]))


def test_place_resources_become_addresses_by_role() -> None:
    cfg = config_from_dict(farm_config())
    bench = bench_from_place(cfg, "bench-a", PLACE, resolve=direct)
    assert bench.overrides == {
        "dut.node_id": 0x1002,
        "dut.discriminator": 77,
        "instruments.meter.transport.host": "10.0.0.5",
        "instruments.meter.transport.port": 1502,
        "instruments.meter.transport.unit": 3,
        "instruments.ac.transport.resource": "TCPIP0::10.0.0.6::5025::SOCKET",
    }
    assert bench.netns == "rig-farm-a" and bench.exporters == ("exp-a",)
    assert bench.roles["meter"] == "exp-a/bench-a/RigModbusDevice/m"
    assert "passcode" not in str(bench.describe("26.0.1", "vm/rig-x"))


def test_a_proxied_address_is_used_and_a_missing_or_wrong_resource_is_named() -> None:
    cfg = config_from_dict(farm_config())
    bench = bench_from_place(cfg, "bench-a", PLACE, resolve=lambda c, p, e: Endpoint("localhost", 40001))
    assert bench.overrides["instruments.ac.transport.resource"] == "TCPIP0::localhost::40001::SOCKET"
    with pytest.raises(FarmError, match=r"no resource 'm' for instrument role meter; the place holds dut"):
        bench_from_place(cfg, "bench-a", [PLACE[0], PLACE[2]], resolve=direct)
    wrong = [PLACE[0], res("m", "RigScpiSocket", host="h", port=1), PLACE[2]]
    with pytest.raises(FarmError, match="'m' for instrument role meter is a RigScpiSocket, not a RigModbusDevice"):
        bench_from_place(cfg, "bench-a", wrong, resolve=direct)


# ------------------------------------------------------------------------------------------------------ leases
def lease(run_id: str = "r1", *, host: str = "h", pid: int = 10, beat: float = 100.0, owner: str = "h/rig-r1") -> Lease:
    return Lease(run_id, "bench-a", owner, "TOKEN", host, pid, 20.0, 90.0, beat)


def test_a_lease_is_stale_when_its_process_is_gone_or_its_heartbeat_too_old() -> None:
    assert stale(lease(), 110.0, "h", lambda pid: True) is None
    assert "process 10 on h is gone" in str(stale(lease(), 110.0, "h", lambda pid: False))
    assert stale(lease(host="other"), 110.0, "h", lambda pid: False) is None  # another host's pid says nothing
    assert "heartbeat is 21 s old" in str(stale(lease(host="other"), 121.0, "h", lambda pid: True))


def test_reap_frees_only_dead_leases_whose_owner_still_holds_the_place() -> None:
    def places(holder: str | None) -> dict[str, PlaceInfo]:
        return {"bench-a": PlaceInfo("bench-a", {"rig": "virtual"}, holder, None, [])}

    dead, alive = lease(), lease("r2", pid=11, owner="h/rig-r2")
    got = decide([dead], places("h/rig-r1"), now=105.0, host="h", alive=lambda pid: pid != 10)
    assert [(d.action, d.reason) for d in got] == [("reap", "its process 10 on h is gone")]
    got = decide([alive], places("h/rig-r2"), now=105.0, host="h", alive=lambda pid: True)
    assert [d.action for d in got] == ["keep"]
    got = decide([dead], places("h/rig-r9"), now=105.0, host="h", alive=lambda pid: False)
    assert [d.action for d in got] == ["close"], "a newer holder is never kicked"
    got = decide([alive], places(None), now=95.0, host="h", alive=lambda pid: True)
    assert [d.action for d in got] == ["keep"], "a run between its lease and its acquire"


class _Recorder:
    """A coordinator that records what is asked of it, in order."""

    def __init__(self, holder: str) -> None:
        self.calls: list[tuple[str, str]] = []
        self.holder = holder

    def cancel(self, token: str) -> None:
        self.calls.append(("cancel", token))

    def release(self, place: str, *, from_owner: str | None = None) -> None:
        self.calls.append(("release", place))

    def places(self) -> dict[str, PlaceInfo]:
        return {"bench-a": PlaceInfo("bench-a", {"rig": "virtual"}, self.holder, "TOKEN", [])}


def test_the_reservation_is_cancelled_before_the_place_is_released(tmp_path: Path) -> None:
    """labgrid 26.0.1 hands a released place to the next reservation at once only when the place's own reservation
    is already gone (else at its next 15 s scheduling pass): a run's end and the reaper both cancel first."""
    from rig.lab.farm import _release
    from rig.lab.reap import reap

    coord = _Recorder("h/rig-r1")
    outcome = ["released"]
    _release(coord, "bench-a", "TOKEN", outcome)  # type: ignore[arg-type]
    assert coord.calls == [("cancel", "TOKEN"), ("release", "bench-a")] and outcome == ["released"]

    store = LeaseStore(str(tmp_path / "results.sqlite"))
    try:
        store.open(lease(host="another-host"))  # its heartbeat (100) is stale at 1000
        coord = _Recorder("h/rig-r1")
        said: list[str] = []
        decisions = reap(coord, store, say=said.append, now=1000.0)  # type: ignore[arg-type]
        assert [d.action for d in decisions] == ["reap"], said
        assert coord.calls == [("cancel", "TOKEN"), ("release", "bench-a")], coord.calls
        assert store.active() == [], "the lease is closed"
    finally:
        store.close()


def test_a_reaped_run_that_died_before_its_record_is_recorded_as_killed(tmp_path: Path) -> None:
    """A farm run killed after it acquired its place but before it took its bench's lock (waiting for the bench's
    reset, say) has no lock for the next run to take over: the reaper records it, from its lease."""
    import sqlite3

    from rig.lab.farm import killed_run_recorder
    from rig.lab.reap import reap

    run_id = "20261203-215529-d49b14"
    database = str(tmp_path / "results.sqlite")
    store = LeaseStore(database)
    try:
        store.open(Lease(run_id, "bench-a", "h/rig-" + run_id, "TOKEN", "another-host", 10, 20.0, 90.0, 100.0))
        store.open(Lease("regress-" + run_id, "bench-b", "h/rig-regress", "T2", "another-host", 11, 20.0, 90.0, 100.0))
        coord = _Recorder("h/rig-" + run_id)
        said: list[str] = []
        reap(coord, store, say=said.append, now=1000.0, record=killed_run_recorder(tmp_path / "reports", database))  # type: ignore[arg-type]
    finally:
        store.close()
    assert any(f"run {run_id}: recorded as killed" in line for line in said), said
    assert (tmp_path / "reports" / run_id / "report.json").is_file()
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT run_id, status FROM runs").fetchall()
    assert rows == [(run_id, "killed")], rows


def test_the_lease_table_lives_in_the_results_database(tmp_path: Path) -> None:
    store = LeaseStore(str(tmp_path / "results.sqlite"))
    try:
        store.open(lease())
        store.beat("r1", now=150.0)
        assert [(x.run_id, x.heartbeat) for x in store.active()] == [("r1", 150.0)]
        store.end("r1", "released", now=160.0)
        assert store.active() == []
        got = store.get("r1")
        assert got is not None and got.outcome == "released" and got.ended == 160.0
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------- places.yaml
def test_places_yaml_is_read_and_bad_entries_named(tmp_path: Path) -> None:
    path = tmp_path / "farm-places.yaml"
    path.write_text(
        "places:\n  bench-a:\n    tags: {rig: virtual}\n    matches:\n"
        "      - {pattern: exp-a/bench-a/MatterDevice/dut, name: dut}\n      - {pattern: exp-a/bench-a/*}\n"
    )
    (spec,) = load_places(path)
    assert spec.tags == {"rig": "virtual"}
    assert spec.matches == [("exp-a/bench-a/MatterDevice/dut", "dut"), ("exp-a/bench-a/*", None)]
    path.write_text("places:\n  bench-a:\n    matches:\n      - {pattern: just-one-part}\n")
    with pytest.raises(ConfigError, match=r"places.bench-a.matches\[0\].pattern"):
        load_places(path)


# ----------------------------------------------------------------------------------------- rig sim export
def _served(config: Any, host: str) -> dict[str, Any]:
    """A virtual bench's ready line for ``config``'s roles, as if served on ``host``."""
    roles: dict[str, Any] = {}
    for i, (role, inst) in enumerate(config.instruments.items()):
        if inst.transport.kind == "can":
            roles[role] = {"driver": inst.driver, "interface": "udp_multicast", "channel": "239.74.9.9", "port": 1}
        else:
            roles[role] = {"driver": inst.driver, "host": host, "port": 40000 + i}
    return {"event": "ready", "roles": roles}


def test_sim_export_resources_give_a_farm_run_the_served_addresses(tmp_path: Path) -> None:
    """The exporter YAML of an exported virtual bench, read back as an acquired place's resources, points every role
    of a farm run at the address its server listens on (the round trip ``rig run`` makes through the coordinator)."""
    import yaml

    from rig.config import load_config
    from rig.lab.sim_export import ExportOptions, bench_spec, exporter_groups, places_snippet

    root = Path(__file__).resolve().parents[1]
    sim = load_config(root / "rig.yaml")
    options = ExportOptions("bench-a", sim, "127.0.0.1:1")
    spec = bench_spec(sim, options.loopback, options.can_group)
    assert {r.get("host", options.loopback) for r in spec["roles"].values()} == {options.loopback}
    assert spec["roles"]["ev_board"]["channel"] == options.can_group
    assert all(r["port"] == 0 for r in spec["roles"].values() if "port" in r)
    ready = _served(sim, options.loopback)
    dut = {"host": "fd00::2", "port": 5540, "node_id": options.dut_node_id, "discriminator": 3840,
           "netns": options.netns}  # fmt: skip
    groups = exporter_groups(sim, ready, group="bench", dut=dut, fifo=tmp_path / "control.fifo")
    text = yaml.safe_dump(groups)
    assert "passcode" not in text and "20202021" not in text, "no secret in what every client can read"
    exported = [
        res(name, spec_["cls"], **{k: v for k, v in spec_.items() if k != "cls"})
        for name, spec_ in yaml.safe_load(text)["bench"].items()
    ]
    data = {k: v for k, v in farm_config().items() if k != "instruments"}
    raw = yaml.safe_load((root / "rig.yaml").read_text())
    data["instruments"], data["ev_emulator"] = raw["instruments"], raw["ev_emulator"]
    data["farm"]["roles"] = {"instruments": {r: r for r in raw["instruments"]}, "ev_emulator": "ev"}
    bench = bench_from_place(config_from_dict(data), "bench-a", exported, resolve=lambda c, p, e: Endpoint(
        p["host"], int(p["port"])))  # fmt: skip
    assert bench.netns == "rigbench-bench-a" and bench.overrides["dut.node_id"] == options.dut_node_id
    assert bench.overrides["instruments.ac_source.transport.resource"] == (
        f"TCPIP0::{options.loopback}::{ready['roles']['ac_source']['port']}::SOCKET"
    )
    assert bench.overrides["instruments.meter.transport.port"] == ready["roles"]["meter"]["port"]
    assert bench.overrides["instruments.ev_board.transport.channel"] == "239.74.9.9"
    matched = {m.get("name") for m in places_snippet("bench-a", "bench", "bench-a", sim)["bench-a"]["matches"]}
    assert matched == {"dut", "ev", None, *raw["instruments"]}


def test_sim_export_benches_differ_in_what_the_bench_lock_keys_on() -> None:
    from rig.config import load_config
    from rig.lab.sim_export import ExportOptions

    sim = load_config(Path(__file__).resolve().parents[1] / "rig.yaml")
    a, b = ExportOptions("bench-a", sim, "x:1"), ExportOptions("bench-b", sim, "x:1")
    assert a.loopback != b.loopback and a.dut_node_id != b.dut_node_id and a.can_group != b.can_group
    assert a.loopback.startswith("127.") and a.netns == "rigbench-bench-a" and not a.netns.startswith("rig-")
    assert ExportOptions("bench-a", sim, "x:1", node_id=0x1001).dut_node_id == 0x1001
    with pytest.raises(ConfigError, match="--bench"):
        ExportOptions("Bench_A", sim, "x:1").check()


def test_sim_export_starts_its_exporter_again_when_it_exits(tmp_path: Path) -> None:
    import sys
    import time

    from rig.lab import sim_export

    said: list[str] = []
    exporter = sim_export._Exporter([sys.executable, "-c", "raise SystemExit(100)"], tmp_path / "exporter.log")
    exporter.start()
    assert exporter.proc is not None
    exporter.proc.wait(10)
    exporter.watch(said.append)
    assert exporter.exits == [100] and "the coordinator went away" in said[0] and exporter.proc is None
    exporter.restart_at = time.monotonic()
    exporter.watch(said.append)
    assert exporter.starts == 2 and exporter.proc is not None
    exporter.stop()
    assert exporter.proc is None


# ------------------------------------------------------------------------------ the bench's reset before a run
def test_the_state_file_marks_a_release_ready_only_for_its_own_token(tmp_path: Path) -> None:
    import os

    from rig.lab import control

    fifo = tmp_path / "control.fifo"
    os.mkfifo(fifo)
    state = control.state_path(fifo)
    assert state == tmp_path / "control.fifo.state"
    # no state file: a bench host that does not keep one; the release is told, nothing is published as resetting
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        control.release(fifo)
        assert not state.exists() and control.published_resetting(fifo) is False
        assert os.read(reader, 100).decode().startswith("release ")
        control.write_state(state, control.READY, "-", create=True)  # the bench host opts in
        first = control.release(fifo)
        assert control.read_state(state) == control.BenchState("resetting", first) and control.published_resetting(fifo)
        assert os.read(reader, 100).decode() == f"release {first}\n"
        second = control.release(fifo)  # released again before the first reset finished
        assert not control.mark_ready(state, first), "a stale reset never marks a newer release ready"
        assert control.published_resetting(fifo)
        assert control.mark_ready(state, second) and not control.published_resetting(fifo)
    finally:
        os.close(reader)
    # no one reads the FIFO: nothing will reset the bench, so it is ready at once
    third = control.release(fifo)
    assert control.read_state(state) == control.BenchState("ready", third)


def test_the_exporter_publishes_resetting_from_release_until_the_bench_is_ready(tmp_path: Path) -> None:
    """labgrid's own ResourceExport calls: acquire (``_start``), release (``_stop`` then ``_get_params``), poll."""
    import os

    from rig.lab import control
    from rig.lab.exporter import _control_export

    fifo = tmp_path / "control.fifo"
    os.mkfifo(fifo)
    control.write_state(control.state_path(fifo), control.READY, "-", create=True)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        export = _control_export()({"avail": False, "cls": "RigBenchControl", "params": {"fifo": str(fifo)}},
                                   host="h", proxy="h", proxy_required=False)  # fmt: skip
        export.poll()
        assert export.params["resetting"] is False and export.params["fifo"] == str(fifo)
        export.acquire("bench-a")
        assert os.read(reader, 100) == b"acquire bench-a\n"
        export.release()
        assert export.params["resetting"] is True, "published with the release itself"
        line = os.read(reader, 100).decode()
        token = line.split()[1]
        assert line == f"release {token}\n"
        export.poll()
        assert export.params["resetting"] is True, "until the bench says its reset is done"
        assert control.mark_ready(control.state_path(fifo), token)
        export.poll()
        assert export.params["resetting"] is False
    finally:
        os.close(reader)


class _Places:
    """A coordinator's view of one place: ``resources_of`` answers from a list of looks, one per call."""

    def __init__(self, looks: list[list[ExportedResource]]) -> None:
        self.looks = looks
        self.calls = 0

    def resources_of(self, place: str) -> list[ExportedResource]:
        look = self.looks[min(self.calls, len(self.looks) - 1)]
        self.calls += 1
        return look


def test_a_farm_run_waits_until_its_bench_is_no_longer_resetting() -> None:
    from rig.lab.farm import await_bench_ready

    def ctl(**params: Any) -> ExportedResource:
        return ExportedResource("control", "RigBenchControl", {"fifo": "/f", **params}, "exp-a", "bench")

    said: list[str] = []
    places = _Places([[PLACE[0], ctl(resetting=True)], [ctl(resetting=True)], [PLACE[0], ctl(resetting=False)]])
    await_bench_ready(places, "bench-a", 60, poll_s=0, say=said.append)  # type: ignore[arg-type]
    assert places.calls == 3 and "place bench-a: its bench is resetting" in said[0] and "done" in said[-1]
    # a real bench without a control resource, or an exporter that publishes no "resetting": ready
    for look in ([PLACE[0]], [ctl()]):
        places = _Places([look])
        await_bench_ready(places, "bench-a", 60, poll_s=0, say=said.append)  # type: ignore[arg-type]
        assert places.calls == 1
    with pytest.raises(FarmError, match=r"place bench-a: its bench was still resetting after 0 s \(farm.reset_wait\): "
                       r"exp-a/bench/RigBenchControl/control says resetting: true"):  # fmt: skip
        await_bench_ready(_Places([[ctl(resetting=True)]]), "bench-a", 0, poll_s=0, say=said.append)  # type: ignore[arg-type]
    cfg = config_from_dict(farm_config(reset_wait=30))
    assert cfg.farm is not None and cfg.farm.reset_wait == 30
    assert "farm.reset_wait" in error_of(farm_config(reset_wait=0))


def test_a_bench_whose_exporter_came_back_is_reset_when_its_place_was_released_meanwhile() -> None:
    from rig.lab.sim_export import Look, Orphan, await_orphan_outcome, orphan_outcome

    lost = Orphan("bench-a", "h/rig-r1", "T")
    assert orphan_outcome(lost, Look(False, None, False)) is None, "not registered yet: look again"
    assert orphan_outcome(lost, Look(True, None, False)) == "reset", "released while the exporter was away"
    assert orphan_outcome(lost, Look(True, "h/rig-r2", True)) == "reset", "another run holds it now: not reset since"
    assert orphan_outcome(lost, Look(True, "h/rig-r1", False)) is None, "held: wait for the coordinator's resync"
    assert orphan_outcome(lost, Look(True, "h/rig-r1", True)) == "held"
    assert orphan_outcome(Orphan("bench-a", None, "T"), Look(True, "h/rig-r1", True)) == "reset", "holder unknown"
    looks = iter([Look(False, None, False), Look(True, "h/rig-r1", False), Look(True, None, False)])
    assert await_orphan_outcome(lost, lambda: next(looks), poll_s=0) == "reset"
    looks = iter([Look(True, "h/rig-r1", False), Look(True, "h/rig-r1", True)])
    assert await_orphan_outcome(lost, lambda: next(looks), poll_s=0) == "held"
    assert await_orphan_outcome(lost, lambda: Look(True, "h/rig-r1", False), timeout_s=0, poll_s=0) == "timeout"


def test_sim_export_marks_its_bench_resetting_when_the_exporter_dies_while_held_and_resets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rig sim export``'s serve loop with fakes for the exporter, the coordinator and the reset itself."""
    import types

    import yaml

    from rig.config import load_config
    from rig.lab import control, coordinator, sim_export

    root = Path(__file__).resolve().parents[1]
    export = sim_export.SimExport(sim_export.ExportOptions("bench-a", load_config(root / "rig.yaml"), "127.0.0.1:1"))
    export.state = tmp_path
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({"bench": {"dut": {}, "control": {}}}))
    export.state_file = control.state_path(tmp_path / "control.fifo")
    control.write_state(export.state_file, control.READY, "-", create=True)
    resets: list[str] = []
    states_at_reset: list[bool] = []

    def fake_reset(why: str) -> None:
        states_at_reset.append(control.published_resetting(tmp_path / "control.fifo"))
        resets.append(why)

    monkeypatch.setattr(export, "_reset", fake_reset)
    monkeypatch.setattr(export, "_holder", lambda place: "h/rig-r1")
    said: list[str] = []
    monkeypatch.setattr(export, "say", said.append)

    fake = types.SimpleNamespace(exits=[], starts=1, proc="running", dying=True)

    def watch(say: Any) -> None:  # the exporter: it dies when told to, and is started again on the next watch
        if fake.proc is not None and fake.dying:
            fake.exits.append(-9)
            fake.proc, fake.dying = None, False
        elif fake.proc is None:
            fake.starts += 1
            fake.proc = "running"

    fake.watch = watch
    export.exporter = fake
    # the coordinator after the restart: the new exporter registered, the place released meanwhile
    seen = types.SimpleNamespace(resources={"bench-a": {"bench": {"dut": object(), "control": types.SimpleNamespace(
        acquired="")}}}, places={"bench-a": types.SimpleNamespace(acquired="")})  # fmt: skip

    class FakeCoordinator:
        down = False

        def __init__(self, address: str, user: str) -> None:
            if FakeCoordinator.down:
                raise FarmError(f"labgrid coordinator {address}: cannot connect")
            self.session = seen

        def __enter__(self) -> FakeCoordinator:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def sync(self) -> None:
            pass

    monkeypatch.setattr(coordinator, "Coordinator", FakeCoordinator)
    export._order("acquire bench-a")
    assert export.held == "bench-a"
    export._watch_exporter()  # the serve loop sees the exporter's end
    assert export.orphan is not None and export.orphan.holder == "h/rig-r1"
    assert control.published_resetting(tmp_path / "control.fifo"), "resetting before the new exporter registers"
    assert resets == []
    FakeCoordinator.down = True
    export._watch_exporter()  # started again, but the coordinator does not answer: still resetting, asked again
    assert export.orphan is not None and resets == [] and control.published_resetting(tmp_path / "control.fifo")
    FakeCoordinator.down = False
    export.orphan_retry_at = 0.0  # its retry is due
    export._watch_exporter()  # the new exporter is registered and the coordinator says the place is free
    assert resets == ["released while its exporter was away"] and states_at_reset == [True]
    assert not control.published_resetting(tmp_path / "control.fifo") and export.held is None and export.orphan is None
    # the same, but the run still holds the place and the coordinator gave it the new exporter's resources: no reset
    export._order("acquire bench-a")
    fake.dying = True
    export._watch_exporter()
    seen.places["bench-a"].acquired = "h/rig-r1"
    seen.resources["bench-a"]["bench"]["control"].acquired = "bench-a"
    export._watch_exporter()
    assert resets == ["released while its exporter was away"] and export.held == "bench-a"
    assert not control.published_resetting(tmp_path / "control.fifo"), said
    assert any("still held by h/rig-r1" in line for line in said), said


def test_an_unreachable_or_silent_coordinator_is_named_and_bounded() -> None:
    """In a process of its own: gRPC's asyncio support keeps a socket pair for the whole process once started."""
    import subprocess
    import sys

    code = """if True:
        import socket
        from rig.lab import coordinator
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        try:
            coordinator.Coordinator(f"127.0.0.1:{port}", "rig-test")
        except coordinator.FarmError as exc:
            print(f"closed {port}: {exc}")
        coordinator.CONNECT_TIMEOUT_S = 0.5
        with socket.socket() as silent:  # takes the connection, never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            port = silent.getsockname()[1]
            try:
                coordinator.Coordinator(f"127.0.0.1:{port}", "rig-test")
            except coordinator.FarmError as exc:
                print(f"silent {port}: {exc}")
    """
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    closed, silent = proc.stdout.splitlines()
    port = closed.split()[1].rstrip(":")
    assert f"labgrid coordinator 127.0.0.1:{port}: cannot connect (" in closed, proc.stdout + proc.stderr
    port = silent.split()[1].rstrip(":")
    assert f"labgrid coordinator 127.0.0.1:{port}: cannot connect (no answer within 0.5 s)" in silent, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
