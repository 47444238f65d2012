"""The labgrid bench farm end to end, on loopback: a coordinator, `rig sim export` benches, `rig run` through them.

* One bench: `rig lab sync` of a places file; a run of TC-EEVSE-2.1 through the farm passes, its record names the
  place, exporter and labgrid version, its lease is closed and the place released. A second run is SIGKILLed once it
  holds the place: `rig lab reap` frees the place within the lease TTL + 15 s (its reservation cancelled, its lease
  closed as reaped), and a third run then acquires the place and passes.
* Two benches, three runs at once: no place is held by two runs at a time, the third waits and passes; `rig history`
  and `rig compare` read the runs of both benches from the lab's database.
* A bench's exporter SIGKILLed while a run holds its place (`rig sim export` starts it again): the run still ends
  with a verdict (it passes: the run talks to the bench's instruments and DUT, not through the exporter) within a
  bound, and gives the place back; the bench is reset after it either way.
* The exporter SIGKILLed while a run holds the place and the run killed and reaped before the exporter is back: no
  one tells the bench of the release, `rig sim export` resets it once its new exporter is registered, and the next
  run (which waits for that reset) passes.
* Bad input: a coordinator on a closed port (exit 3 naming it, nothing left behind); a place without the meter
  (exit 3 naming the place and the role, the place released and its bench reset, no reservation, the lease closed).

Results and leases go to a PostgreSQL server of the module's own (tests/pgserver.py), reached over 127.0.0.1 with a
password as a lab's would be, one database per test; every run must land in its ``runs`` table. The coordinator runs
in a folder of the test's own (its state files), the exporters and benches are stopped at the end and leave no
namespace; ``nothing_left_behind`` checks the runs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rig.lab.coordinator import start_coordinator
from tests.e2e.conftest import RIG, ROOT
from tests.pgserver import PgServer, PgUnavailable, private_postgres

pytestmark = pytest.mark.e2e

READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 300.0
LEASE_TTL_S = 10.0
REAP_LIMIT_S = LEASE_TTL_S + 15.0
GONE_TIMEOUT_S = 60.0
EXPORTER_LOSS_LIMIT_S = 150.0
"""Bound on a run whose bench's exporter was killed: a verdict by then, or the test fails (a hang)."""
CASE = ("--tc", "TC-EEVSE-2.1")


def _read_until(proc: subprocess.Popen[bytes], timeout_s: float, want: Any, what: str) -> Any:
    """The first stdout line of ``proc`` for which ``want(line)`` is not None (bounded; read from the pipe itself, so
    no line waits in a reader's buffer while select() sees nothing more)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout_s
    buffer = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not readable:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, rest = buffer.split(b"\n")
        for line in lines:
            got = want(line.decode(errors="replace"))
            if got is not None:
                return got
        buffer = rest
    raise AssertionError(f"{what}: nothing within {timeout_s:g} s; it printed: {buffer.decode()[-2000:]}")


def _await_line(path: Path, pattern: str, timeout_s: float, what: str) -> str:
    """The first group of ``pattern`` in the file ``path`` (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace")) if path.exists() else None
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"{what}: nothing within {timeout_s:g} s; it printed: {path.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    """The lab's results database server: PostgreSQL of the module's own on 127.0.0.1 (a free port, a password)."""
    try:
        with private_postgres(tcp=True) as server:
            yield server
    except PgUnavailable as exc:
        pytest.fail(f"the farm's results database needs PostgreSQL: {exc}")


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[str]:
    """`labgrid-coordinator -l 127.0.0.1:0` in a folder of its own; its address."""
    with start_coordinator(tmp_path / "coordinator") as address:
        yield address


@dataclass
class Bench:
    name: str
    ready: dict[str, Any]
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    log: Path


class Farm:
    """Benches exported with `rig sim export`, their places, and farm runs of a lab.yaml."""

    def __init__(self, tmp: Path, coordinator: str, pg: PgServer) -> None:
        self.tmp, self.coordinator = tmp, coordinator
        self.benches: list[Bench] = []
        self.reports = tmp / "reports"
        db = f"farm_{secrets.token_hex(4)}"
        pg.create_database(db)
        self.db_url, self.db_local, self.db_password = pg.tcp_url(db), pg.url(db), pg.password

    def export(self) -> Bench:
        name = f"e2e{secrets.token_hex(2)}"
        log = self.tmp / f"{name}.log"
        cmd = [*RIG, "sim", "export", "--bench", name, "--coordinator", self.coordinator,
               "--state", str(self.tmp / name), "--chain", str(self.tmp / "chain")]  # fmt: skip
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        bench = Bench(name, {}, proc, log)
        self.benches.append(bench)

        def ready(line: str) -> dict[str, Any] | None:
            try:
                msg = json.loads(line)
            except ValueError:
                return None
            return msg if isinstance(msg, dict) and msg.get("ready") else None

        try:
            bench.ready = _read_until(proc, READY_TIMEOUT_S, ready, f"`rig sim export` ({log.read_text()[-2000:]})")
        except AssertionError:
            _stop(proc)
            raise
        return bench

    def stop(self) -> None:
        for bench in self.benches:
            _stop(bench.proc)
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
            assert bench.ready.get("netns", "-") not in listed, f"`rig sim export` left {bench.ready['netns']}"
            assert not (self.tmp / bench.name / "control.fifo").exists(), "the control FIFO was left"
            assert bench.proc.returncode == 0, bench.log.read_text()[-3000:]

    def sync(self) -> Path:
        places: dict[str, Any] = {}
        for bench in self.benches:
            places.update(bench.ready["places"])
        path = self.tmp / "farm-places.yaml"  # not places.yaml in the coordinator's folder: its own state
        path.write_text(yaml.safe_dump({"places": places}), encoding="utf-8")
        proc = subprocess.run([*RIG, "lab", "sync", str(path), "--coordinator", self.coordinator], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return path

    def config(self) -> Path:
        base = yaml.safe_load((ROOT / "rig.yaml").read_text(encoding="utf-8"))
        data = {
            "station": {"name": "farm-e2e", "state_dir": str(self.tmp / "station")},
            "dut": {
                "kind": "network",
                "passcode": 20202021,
                "paa_trust_store": self.benches[0].ready["paa_trust_store"],
                "attestation": "strict",
                "timeouts": {"commissioning": 60, "command": 10, "event": 10},
            },
            "stimulus": "emulator",
            "instruments": base["instruments"],
            "ev_emulator": base["ev_emulator"],
            "report": {"dir": str(self.reports), "database": self.db_url},
            "farm": {
                "coordinator": self.coordinator,
                "tags": {"rig": "virtual"},
                "wait": 240,
                "lease_ttl": LEASE_TTL_S,
                "roles": {"dut": "dut", "instruments": {r: r for r in base["instruments"]}, "ev_emulator": "ev"},
            },
        }
        path = self.tmp / "lab.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def start_run(self, station: str = "station") -> Run:
        cmd = [*RIG, "run", "--config", str(self.tmp / "lab.yaml"), *CASE,
               "--set", f"station.state_dir={self.tmp / station}"]  # fmt: skip
        log = self.tmp / f"run-{secrets.token_hex(3)}.log"  # a file: three runs at once never wait on a full pipe
        with open(log, "wb") as out:
            return Run(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)

    def await_holder(self, place: str, run: Run) -> str:
        """Who holds ``place`` once ``run`` acquired it (bounded; the run must not end before)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (holder := self.places()["places"][place]["acquired"]) is None:
            assert time.monotonic() < deadline and run.proc.poll() is None, run.log.read_text()[-3000:]
            time.sleep(0.3)
        return str(holder)

    def places(self) -> dict[str, Any]:
        """Place -> {acquired, reservation}, and the coordinator's reservations (token -> owner), from a process of
        its own (a labgrid client session binds its process to one event loop)."""
        code = (
            "import json, sys; from rig.lab.coordinator import Coordinator\n"
            "with Coordinator(sys.argv[1], 'e2e-observer') as c:\n"
            "    p = c.places(); r = c.reservations()\n"
            "print(json.dumps({'places': {n: {'acquired': i.acquired} for n, i in p.items()}, 'reservations': r}))"
        )
        proc = subprocess.run([sys.executable, "-c", code, self.coordinator], cwd=ROOT, capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.db_local, row_factory=dict_row, connect_timeout=10) as db:
            return list(db.execute(sql).fetchall())

    def leases(self) -> dict[str, dict[str, Any]]:
        return {r["run_id"]: r for r in self._rows("SELECT * FROM farm_leases")}

    def runs(self) -> dict[str, dict[str, Any]]:
        """The ``runs`` table of the lab's PostgreSQL database."""
        return {r["run_id"]: r for r in self._rows("SELECT run_id, status, n_passed, n_failed FROM runs")}

    def rig(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `rig` command on the lab's rig.yaml (its results database)."""
        return subprocess.run([*RIG, *args, "--config", str(self.tmp / "lab.yaml")], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip


def _record(output: str) -> dict[str, Any]:
    found = re.search(r"report: (\S+)/report\.html", output)
    assert found, output[-3000:]
    return dict(json.loads((Path(found.group(1)) / "report.json").read_text(encoding="utf-8")))


def _finish(run: Run) -> tuple[int, str]:
    run.proc.wait(timeout=RUN_TIMEOUT_S)
    return run.proc.returncode, run.log.read_text(errors="replace")


def _in_database(farm: Farm, records: list[dict[str, Any]]) -> None:
    """Every run landed in the lab's PostgreSQL ``runs`` table, finished with its case passed."""
    runs = farm.runs()
    for record in records:
        row = runs.get(record["run_id"])
        assert row is not None, f"run {record['run_id']} is not in PostgreSQL's runs table: {sorted(runs)}"
        assert (row["status"], row["n_passed"], row["n_failed"]) == ("finished", 1, 0), row


def _passed(code: int, output: str) -> dict[str, Any]:
    assert code == 0, output[-4000:]
    record = _record(output)
    assert {c["id"]: c["outcome"] for c in record["cases"]} == {"TC-EEVSE-2.1": "passed"}, output[-3000:]
    return record


def _run_gone(run_id: str) -> bool:
    marker = f"RIG_SANDBOX=/run/rig/{run_id}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes():
                    return False
            except OSError:
                pass
    return True


@pytest.fixture
def farm(tmp_path: Path, coordinator: str, postgres: PgServer) -> Iterator[Farm]:
    f = Farm(tmp_path, coordinator, postgres)
    try:
        yield f
    finally:
        f.stop()


def test_run_killed_run_reaped_and_next_run(farm: Farm) -> None:
    from labgrid import __version__ as labgrid_version

    bench = farm.export()
    farm.sync()
    farm.config()
    place = bench.name

    code, out = _finish(farm.start_run())
    first = _passed(code, out)
    assert first["farm"]["place"] == place and first["farm"]["exporters"] == [bench.ready["exporter"]]
    assert first["farm"]["labgrid"] == labgrid_version
    assert farm.leases()[first["run_id"]]["ended"] is not None, "the lease is closed"
    assert farm.leases()[first["run_id"]]["outcome"] == "released"
    seen = farm.places()
    assert seen["places"][place]["acquired"] is None and seen["reservations"] == {}, seen

    # A run SIGKILLed once it holds the place.
    killed = farm.start_run()
    deadline = time.monotonic() + READY_TIMEOUT_S
    holder = None
    while holder is None and time.monotonic() < deadline:
        holder = farm.places()["places"][place]["acquired"]
        time.sleep(0.5)
    assert holder is not None and "/rig-" in holder, "the second run never held the place"
    killed.proc.kill()
    killed.proc.wait(timeout=30)
    killed_at = time.monotonic()
    killed_id = holder.split("/rig-", 1)[1]
    reap = subprocess.run([*RIG, "lab", "reap", "--config", str(farm.tmp / "lab.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert reap.returncode == 0, reap.stdout + reap.stderr
    while farm.places()["places"][place]["acquired"] is not None:
        assert time.monotonic() - killed_at < REAP_LIMIT_S, f"the place is still held: {reap.stdout}{reap.stderr}"
        time.sleep(0.5)
    freed_s = time.monotonic() - killed_at
    assert farm.places()["reservations"] == {}, "the dead run's reservation is cancelled"
    assert farm.leases()[killed_id]["outcome"].startswith("reaped"), farm.leases()[killed_id]
    # The killed run's process inside its sandbox tears down on its own (parent-death signal); its bench lock goes
    # with it. The next run starts once it is gone.
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while not _run_gone(killed_id):
        assert time.monotonic() < deadline, f"run {killed_id} still has processes {GONE_TIMEOUT_S:g} s after SIGKILL"
        time.sleep(0.5)

    code, out = _finish(farm.start_run())
    third = _passed(code, out)
    assert third["farm"]["place"] == place
    seen = farm.places()
    assert seen["places"][place]["acquired"] is None and seen["reservations"] == {}, seen
    log = bench.log.read_text()
    assert log.count("acquired: place") == 3 and log.count("bench reset (released)") >= 2, log[-3000:]
    _in_database(farm, [first, third])
    assert farm.runs()[killed_id]["status"] == "killed", "the killed run is recorded as killed"
    print(f"scheduling: {first['farm']['timings']} / {third['farm']['timings']}; place freed {freed_s:.1f} s after "
          "SIGKILL")  # fmt: skip


def test_three_runs_on_two_benches(farm: Farm) -> None:
    benches = [farm.export(), farm.export()]
    farm.sync()
    farm.config()
    runs = [farm.start_run(f"station-{i}") for i in range(3)]  # a station is one run's at a time
    done = [_finish(r) for r in runs]
    records = [_passed(code, out) for code, out in done]
    places = sorted(r["farm"]["place"] for r in records)
    assert set(places) == {b.name for b in benches}, places
    leases = farm.leases()
    assert all(leases[r["run_id"]]["outcome"] == "released" for r in records), leases
    acquisitions = 0
    for bench in benches:  # what the bench's exporter was told, in order: one holder at a time
        told = re.findall(r"(acquired: place|released: resetting)", bench.log.read_text())
        assert told == ["acquired: place", "released: resetting"] * (len(told) // 2), told
        acquisitions += len(told) // 2
    assert acquisitions == 3
    waited = max(r["farm"]["timings"]["wait_s"] for r in records)
    assert waited > 5, f"no run waited for a place: {[r['farm']['timings'] for r in records]}"
    seen = farm.places()
    assert all(p["acquired"] is None for p in seen["places"].values()) and seen["reservations"] == {}, seen
    # The lab's one database holds the runs of both benches; history and compare read them from there.
    _in_database(farm, records)
    history = farm.rig("history")
    assert history.returncode == 0 and all(r["run_id"] in history.stdout for r in records), history
    one, other = (next(r for r in records if r["farm"]["place"] == b.name) for b in benches)
    compared = farm.rig("compare", one["run_id"], other["run_id"])
    assert compared.returncode == 0 and "REGRESSION" not in compared.stdout, compared
    assert farm.db_password not in history.stdout + history.stderr + compared.stdout + compared.stderr


def _exporter_pid(bench: Bench) -> int:
    """The pid of the bench's `python -m rig.lab.exporter` (a child of `rig sim export`)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"rig.lab.exporter" in argv and bench.name.encode() in argv:
                return int(proc.name)
    raise AssertionError(f"no exporter of bench {bench.name} is running")


def test_exporter_killed_mid_run(farm: Farm) -> None:
    bench = farm.export()
    farm.sync()
    farm.config()
    place = bench.name
    run = farm.start_run()
    farm.await_holder(place, run)
    killed = _exporter_pid(bench)
    os.kill(killed, signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        run.proc.wait(timeout=EXPORTER_LOSS_LIMIT_S)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.proc.wait()
        raise AssertionError(
            f"the run hung after its bench's exporter was killed: {run.log.read_text()[-3000:]}"
        ) from None
    ended_s = time.monotonic() - killed_at
    out = run.log.read_text(errors="replace")
    record = _passed(run.proc.returncode, out)  # the run's data path never goes through the exporter
    assert record["farm"]["place"] == place
    assert farm.leases()[record["run_id"]]["outcome"] == "released", farm.leases()
    seen = farm.places()
    assert seen["places"][place]["acquired"] is None and seen["reservations"] == {}, seen
    _in_database(farm, [record])
    # The supervisor saw its exporter die and starts it again.
    _await_line(bench.log, r"(the exporter ended \(exit code -9\))", 30, "`rig sim export` noticing its exporter's end")
    deadline = time.monotonic() + 60
    while (again := _exporter_pid_or_none(bench)) in (None, killed):
        assert time.monotonic() < deadline, f"the exporter was not started again: {bench.log.read_text()[-3000:]}"
        time.sleep(0.5)
    # Whether the run ended before the new exporter was back or after it: the bench is reset after it, and says so.
    _await_line(bench.log, r"(bench reset \(released(?: while its exporter was away)?\))", 120,
                "the bench's reset after the run")  # fmt: skip
    _await_ready(farm, place, 30)
    log = bench.log.read_text()
    print(f"exporter killed; the run ended {ended_s:.1f} s later; exporter {again} started again; bench resets after "
          f"the run: {log.count('bench reset (released')}")  # fmt: skip


def _exporter_pid_or_none(bench: Bench) -> int | None:
    try:
        return _exporter_pid(bench)
    except AssertionError:
        return None


# -------------------------------------------------------------------------------- the bench's reset, bad input
def _control_params(farm: Farm, place: str) -> dict[str, Any]:
    """The parameters of the place's RigBenchControl resource as the coordinator lists them (a process of its own)."""
    code = (
        "import json, sys; from rig.lab.coordinator import Coordinator\n"
        "with Coordinator(sys.argv[1], 'e2e-observer') as c:\n"
        "    c.sync(); p = c.session.places[sys.argv[2]]; out = {}\n"
        "    for exp, groups in c.session.resources.items():\n"
        "        for group, entries in groups.items():\n"
        "            for name, e in entries.items():\n"
        "                if e.cls == 'RigBenchControl' and p.hasmatch((exp, group, e.cls, name)):\n"
        "                    out = {k: v for k, v in e.params.items() if k != 'extra'}\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([sys.executable, "-c", code, farm.coordinator, place], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _await_ready(farm: Farm, place: str, timeout_s: float) -> None:
    """The place's bench says its reset is done (bounded)."""
    deadline = time.monotonic() + timeout_s
    while (params := _control_params(farm, place)).get("resetting") is not False:
        assert time.monotonic() < deadline, f"place {place}: its bench still says {params} after {timeout_s:g} s"
        time.sleep(0.5)


def test_exporter_killed_then_run_ended_bench_reset_when_back(farm: Farm) -> None:
    """The exporter dies while a run holds the place; the run ends (here: it is killed and reaped) before the exporter
    is back, so labgrid never tells the exporter of the release: `rig sim export` resets the bench once the new
    exporter is registered, and a next run waits for that reset, then passes."""
    bench = farm.export()
    farm.sync()
    farm.config()
    place = bench.name
    run = farm.start_run()
    holder = farm.await_holder(place, run)
    os.kill(_exporter_pid(bench), signal.SIGKILL)
    _await_line(bench.log, r"(the exporter ended while place \S+ was held)", 30, "`rig sim export` marking its bench")
    run.proc.kill()
    run.proc.wait(timeout=30)
    reap = subprocess.run([*RIG, "lab", "reap", "--config", str(farm.tmp / "lab.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert reap.returncode == 0 and farm.places()["places"][place]["acquired"] is None, reap.stdout + reap.stderr
    killed_id = holder.split("/rig-", 1)[1]
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while not _run_gone(killed_id):
        assert time.monotonic() < deadline, f"run {killed_id} still has processes {GONE_TIMEOUT_S:g} s after SIGKILL"
        time.sleep(0.5)
    log = bench.log.read_text()
    # the reap came before the new exporter: the coordinator skipped the orphaned resources, nobody told the bench
    assert "released: resetting the bench" not in log, log[-3000:]
    _await_line(bench.log, r"(bench reset \(released while its exporter was away\))", 120,
                "the bench's reset once its exporter is back")  # fmt: skip
    _await_ready(farm, place, 30)
    code, out = _finish(farm.start_run())
    record = _passed(code, out)
    assert record["farm"]["place"] == place
    seen = farm.places()
    assert seen["places"][place]["acquired"] is None and seen["reservations"] == {}, seen


def test_unreachable_coordinator_stops_the_run_at_once(farm: Farm) -> None:
    import socket

    with socket.socket() as closed:  # a port of 127.0.0.1 that nothing listens on
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    base = yaml.safe_load((ROOT / "rig.yaml").read_text(encoding="utf-8"))
    data = {
        "station": {"name": "farm-e2e", "state_dir": str(farm.tmp / "station")},
        "dut": {"kind": "network", "passcode": 20202021, "attestation": "allow-test-paa"},
        "stimulus": "emulator",
        "instruments": base["instruments"],
        "ev_emulator": base["ev_emulator"],
        "report": {"dir": str(farm.reports), "database": farm.db_url},
        "farm": {"coordinator": address, "tags": {"rig": "virtual"}, "wait": 240, "lease_ttl": LEASE_TTL_S,
                 "roles": {"dut": "dut", "instruments": {r: r for r in base["instruments"]}, "ev_emulator": "ev"}},
    }  # fmt: skip
    config = farm.tmp / "unreachable.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    run_id = f"20260101-000000-{secrets.token_hex(3)}"
    proc = subprocess.run([*RIG, "run", "--config", str(config), *CASE, "--run-id", run_id], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out  # docs/farm.md: 3, the farm's coordinator refused or did not answer
    assert f"rig: error: labgrid coordinator {address}: cannot connect" in proc.stderr, out
    assert "Traceback" not in out, out
    assert not (farm.reports / run_id).exists() and not Path(f"/run/rig/{run_id}").exists(), "a run folder was left"
    assert _run_gone(run_id)
    tables = farm._rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    if any(t["table_name"] == "farm_leases" for t in tables):
        assert run_id not in farm.leases(), "no lease for a run that never reached the coordinator"
    assert not any(t["table_name"] == "runs" for t in tables) or run_id not in farm.runs()


def test_place_without_a_needed_role(farm: Farm) -> None:
    """A place whose matches lack the meter: the run stops naming the place and the role; the place is released
    (its bench reset), the reservation cancelled, the lease closed."""
    bench = farm.export()
    place = bench.name
    places = {place: dict(bench.ready["places"][place])}
    matches = places[place]["matches"]
    places[place]["matches"] = [m for m in matches if m.get("name") != "meter"]
    assert len(places[place]["matches"]) == len(matches) - 1, matches
    path = farm.tmp / "farm-places-no-meter.yaml"
    path.write_text(yaml.safe_dump({"places": places}), encoding="utf-8")
    sync = subprocess.run([*RIG, "lab", "sync", str(path), "--coordinator", farm.coordinator], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert sync.returncode == 0, sync.stdout + sync.stderr
    farm.config()
    code, out = _finish(farm.start_run())
    assert code == 3, out[-3000:]
    assert f"rig: error: place {place}: no resource 'meter' for instrument role meter" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    seen = farm.places()
    assert seen["places"][place]["acquired"] is None and seen["reservations"] == {}, seen
    (lease,) = farm.leases().values()
    assert lease["place"] == place and lease["ended"] is not None and lease["outcome"] == "released", lease
    assert not (farm.reports / lease["run_id"]).exists() and _run_gone(lease["run_id"])
    # the release told the bench, which went back to its safe state (EV in A, instruments safe, EVSE factory-new)
    _await_line(bench.log, r"(bench reset \(released\))", 120, "the bench's reset after the release")
    _await_ready(farm, place, 30)
