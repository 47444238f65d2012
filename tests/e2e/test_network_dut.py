"""A network DUT kept from run to run: the station's fabric, already-commissioned, join, removal, full tables.

`rig sim dut` runs the virtual EVSE as a long-lived device (a fabric table of 5, a custom attestation chain that
is not a Matter test chain) in a network namespace of its own; each `rig run` here is a `dut.kind: network` run on
that network (`ip netns exec`), as a lab's rig runs on the lab's network.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import RIG, ROOT

pytestmark = pytest.mark.e2e

CASES = ("--tc", "TC-EEVSE-2.1", "--tc", "TC-EEVSE-2.2")
READY_TIMEOUT_S = 90.0


@dataclass
class SimDut:
    netns: str
    ready: dict[str, Any]
    proc: subprocess.Popen[str]

    @property
    def paa(self) -> str:
        return str(self.ready["paa_trust_store"])


def _await_ready(proc: subprocess.Popen[str], timeout_s: float) -> dict[str, Any]:
    """The ready line of `rig sim dut` (a JSON object on stdout), or a failure naming what came instead."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(deadline - time.monotonic(), 0)):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("ready"):
            return msg
    raise AssertionError(
        f"`rig sim dut` gave no ready line within {timeout_s:g} s; it printed: {''.join(seen)[-2000:]}"
    )


@contextlib.contextmanager
def running_sim_dut(tmp_path: Path, prefix: str, *options: str) -> Iterator[SimDut]:
    """`rig sim dut --netns <prefix>-XXXXXX --state <tmp>/dut --fresh OPTIONS` for the block (its stderr in
    ``<tmp>/sim-dut.err``), stopped at the end with SIGTERM (SIGKILL to its group after 30 s); its namespace must be
    gone then."""
    netns = f"{prefix}-{secrets.token_hex(3)}"
    cmd = [*RIG, "sim", "dut", "--netns", netns, "--state", str(tmp_path / "dut"), "--fresh", *options]
    with open(tmp_path / "sim-dut.err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
    try:
        yield SimDut(netns, _await_ready(proc, READY_TIMEOUT_S), proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        assert netns not in listed, f"`rig sim dut` left its network namespace {netns}"


@pytest.fixture
def sim_dut(tmp_path: Path) -> Iterator[SimDut]:
    """`rig sim dut` in a network namespace of its own, stopped (and its namespace gone) at the end."""
    with running_sim_dut(tmp_path, "rignet", "--chain", str(tmp_path / "chain"), "--supported-fabrics", "5") as dut:
        yield dut


@dataclass
class Outcome:
    code: int
    output: str
    record: dict[str, Any] | None


class Lab:
    """Stations (each its own fabric and folder) running `rig run` and `rig station` against the simulated DUT."""

    def __init__(self, tmp: Path, dut: SimDut) -> None:
        self.tmp = tmp
        self.dut = dut

    def config(self, station: str, node_id: int, **dut: Any) -> Path:
        path = self.tmp / f"{station}.yaml"
        data = {
            "station": {"name": station, "state_dir": str(self.tmp / "stations" / station)},
            "dut": {
                "kind": "network",
                "node_id": node_id,
                "passcode": self.dut.ready["passcode"],
                "discriminator": self.dut.ready["discriminator"],
                "paa_trust_store": self.dut.paa,
                "attestation": "strict",
                "timeouts": {"commissioning": 40, "command": 10, "event": 10},
                **dut,
            },
            "stimulus": "trigger",
            "report": {"dir": str(self.tmp / "reports" / station)},
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    def _exec(self, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = ["ip", "netns", "exec", self.dut.netns, *RIG, *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)

    def run(self, station: str, node_id: int, *cases: str, **dut: Any) -> Outcome:
        cfg = self.config(station, node_id, **dut)
        before = set((self.tmp / "reports" / station).glob("2*"))
        proc = self._exec(["run", "--config", str(cfg), *(cases or CASES)])
        made = sorted(set((self.tmp / "reports" / station).glob("2*")) - before)
        record = None
        if made and (made[-1] / "report.json").is_file():
            record = json.loads((made[-1] / "report.json").read_text(encoding="utf-8"))
        return Outcome(proc.returncode, proc.stdout + proc.stderr, record)

    def station(self, station: str, node_id: int, op: str, *extra: str) -> subprocess.CompletedProcess[str]:
        cfg = self.tmp / f"{station}.yaml"
        if not cfg.exists():
            self.config(station, node_id)
        return self._exec(["station", op, hex(node_id), "--config", str(cfg), *extra])

    def window(self, station: str, node_id: int) -> str:
        """A commissioning window opened by ``station`` (another admin); its manual pairing code."""
        proc = self.station(station, node_id, "window", "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return str(json.loads(proc.stdout)["manual_code"])

    def commissioned_fabrics(self, station: str, node_id: int) -> int:
        proc = self.station(station, node_id, "fabrics", "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return int(json.loads(proc.stdout)["fabrics"]["commissioned"])


def _passed(out: Outcome, *cases: str) -> None:
    assert out.code == 0, out.output[-4000:]
    assert out.record is not None, out.output[-2000:]
    outcomes = {c["id"]: c["outcome"] for c in out.record["cases"]}
    for case in cases or ("TC-EEVSE-2.1", "TC-EEVSE-2.2"):
        assert outcomes.get(case) == "passed", outcomes


def _private(folder: Path) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, f"{folder} is {oct(folder.stat().st_mode)}"
    storage = folder / "chip-storage.json"
    assert stat.S_IMODE(storage.stat().st_mode) == 0o600, f"{storage} is {oct(storage.stat().st_mode)}"


VENDOR, NODE_V = "vendor", 0x2001
LAB, NODE_A = "lab-a", 0x3001
OTHER, NODE_B = "lab-b", 0x4001


def test_station_fabric_kept_joined_and_removed(sim_dut: SimDut, tmp_path: Path) -> None:
    lab = Lab(tmp_path, sim_dut)
    # The "vendor ecosystem": another admin with its own CA commissions the DUT first and keeps it.
    vendor = lab.run(VENDOR, NODE_V, "--tc", "TC-EEVSE-2.1", keep_fabric=True)
    _passed(vendor, "TC-EEVSE-2.1")
    before = lab.commissioned_fabrics(VENDOR, NODE_V)
    assert before == 1

    # 1 + 6: the lab's station commissions once (a window the vendor opened), then reconnects six times.
    first = lab.run(LAB, NODE_A, setup_code=lab.window(VENDOR, NODE_V), keep_fabric=True)
    _passed(first)
    fabrics = first.record["dut"]["fabrics"]
    assert fabrics["commissioned"] == 2 and fabrics["label"] == "rig:lab-a" and fabrics["removed"] is False
    for _ in range(6):
        again = lab.run(LAB, NODE_A, commissioning="already-commissioned")
        _passed(again)
        assert again.record["dut"]["fabrics"]["commissioned"] == 2, "already-commissioned adds no fabric"
        assert again.record["dut"]["fabrics"]["current_index"] == fabrics["current_index"]

    # join: a code from a window the vendor opened; the default removes the fabric at the end.
    joined = lab.run(OTHER, NODE_B, commissioning="join", setup_code=lab.window(VENDOR, NODE_V))
    _passed(joined)
    assert joined.record["dut"]["fabrics"]["commissioned"] == 3
    assert joined.record["dut"]["fabrics"]["removed"] is True, joined.record["dut"]["fabrics"]
    assert lab.commissioned_fabrics(VENDOR, NODE_V) == 2

    # The lab's station forgets the DUT (its fabric removed), then one run in the default mode, which removes its own.
    forget = lab.station(LAB, NODE_A, "forget")
    assert forget.returncode == 0, forget.stdout + forget.stderr
    default = lab.run(LAB, NODE_A, setup_code=lab.window(VENDOR, NODE_V))
    _passed(default)
    assert default.record["dut"]["fabrics"]["removed"] is True

    assert lab.commissioned_fabrics(VENDOR, NODE_V) == before
    for station in (VENDOR, LAB, OTHER):
        _private(tmp_path / "stations" / station)


def test_already_commissioned_refuses_a_dut_that_is_not_the_recorded_one(sim_dut: SimDut, tmp_path: Path) -> None:
    lab = Lab(tmp_path, sim_dut)
    _passed(lab.run(LAB, NODE_A, "--tc", "TC-EEVSE-2.1", keep_fabric=True), "TC-EEVSE-2.1")
    record_file = next((tmp_path / "stations" / LAB / "duts").glob("*.json"))
    record = json.loads(record_file.read_text())
    record["serial_number"] = "SOMEONE-ELSE"
    record_file.write_text(json.dumps(record))
    storage = (tmp_path / "stations" / LAB / "chip-storage.json").read_bytes()
    out = lab.run(LAB, NODE_A, "--tc", "TC-EEVSE-2.1", commissioning="already-commissioned")
    assert out.code == 3, out.output[-3000:]
    assert "SOMEONE-ELSE" in out.output and "serial number" in out.output, out.output[-3000:]
    assert "Traceback" not in out.output
    # Nothing replaced: the fabric is the same one.
    assert (
        json.loads((tmp_path / "stations" / LAB / "chip-storage.json").read_bytes())["repl-config"]
        == json.loads(storage)["repl-config"]
    )


def test_sixth_fabric_is_refused_with_the_fabric_table(sim_dut: SimDut, tmp_path: Path) -> None:
    lab = Lab(tmp_path, sim_dut)
    code = None
    for i in range(1, 7):
        extra = {"setup_code": code} if code else {}
        out = lab.run(f"s{i}", 0x5000 + i, "--tc", "TC-EEVSE-2.1", keep_fabric=True, **extra)
        if i < 6:
            _passed(out, "TC-EEVSE-2.1")
            code = lab.window(f"s{i}", 0x5000 + i)
    assert out.code == 3, out.output[-3000:]
    assert "fabric table is full (5 of 5" in out.output, out.output[-3000:]
    assert "rig:s1" in out.output, "the refusal lists the DUT's fabrics"
    assert "Traceback" not in out.output
    assert lab.commissioned_fabrics("s5", 0x5005) == 5, "the refused run added nothing"


def test_network_dut_without_trust_store_is_refused_before_any_matter_traffic(sim_dut: SimDut, tmp_path: Path) -> None:
    lab = Lab(tmp_path, sim_dut)
    out = lab.run(LAB, NODE_A, "--tc", "TC-EEVSE-2.1", paa_trust_store=None, attestation=None)
    assert out.code == 2, out.output[-3000:]
    assert "dut.paa_trust_store" in out.output and "allow-test-paa" in out.output
    assert not (tmp_path / "stations" / LAB).exists(), "refused before the station's fabric was even opened"
