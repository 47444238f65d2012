"""Bench lifecycle with small fake instruments (capability protocols), signals, and `rig bench check`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from rig.bench import Bench
from rig.cli import main as rig_main
from rig.config import RigConfig, config_from_dict
from rig.config.bench import InstrumentConfig, virtual_bench_spec
from rig.errors import ConfigError, InstrumentError
from rig.instruments.capabilities import (
    AcSource,
    EnergyMeter,
    EvBoardCommand,
    EvEmulatorBoard,
    Identity,
    PilotReading,
    ProgramStep,
    RelayIo,
)
from rig.sim.launch import instruments_for, serve_spec
from tests.support import refusing_port, wait_until

REPO = Path(__file__).resolve().parents[1]
WIRING = {"cp_connect": 1, "s2_c": 2, "s2_d": 3, "diode_bypass": 4, "cp_pe_short": 5, "pp_220": 10}


class Recorder:
    """Every fake's calls, in order, as ``role.method`` strings (also appended to a file when given)."""

    def __init__(self, path: Path | None = None) -> None:
        self.calls: list[str] = []
        self.path = path

    def __call__(self, text: str) -> None:
        self.calls.append(text)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(text + "\n")

    def of(self, method: str) -> list[str]:
        return [c.split(".")[0] for c in self.calls if c.split(".", 1)[1].split("(")[0] == method]


class Fake:
    """Base: identity, safe_state, close; ``fail`` names methods that raise (a dead instrument)."""

    def __init__(self, role: str, rec: Recorder, fail: Sequence[str] = ()) -> None:
        self.role = role
        self.rec = rec
        self.fail = set(fail)

    def _do(self, what: str, *args: Any) -> None:
        self.rec(f"{self.role}.{what}" + (f"({','.join(map(str, args))})" if args else ""))
        if what in self.fail:
            raise InstrumentError(self.role, "fake:1", "no answer within 1 s", last_command=what)

    def identity(self) -> Identity:
        self._do("identity")
        return Identity("Fake", type(self).__name__, self.role)

    def safe_state(self) -> None:
        self._do("safe_state")

    def close(self) -> None:
        self._do("close")


class FakeAc(Fake):
    def set_output(self, on: bool) -> None:
        self._do("set_output", on)

    def output_on(self) -> bool:
        return False

    def set_voltage(self, volts: float) -> None:
        self._do("set_voltage", volts)

    def set_frequency(self, hertz: float) -> None: ...
    def set_current_limit(self, amps: float) -> None: ...
    def measure_voltage(self) -> float:
        return 230.0

    def measure_current(self) -> float:
        return 0.0

    def measure_power(self) -> float:
        return 0.0

    def measure_frequency(self) -> float:
        return 50.0

    def run_program(self, steps: Sequence[ProgramStep]) -> None: ...


class FakeMeter(Fake):
    phases = 1

    def voltage(self, phase: int = 1) -> float:
        return 230.0

    def current(self, phase: int = 1) -> float:
        return 0.0

    def active_power(self, phase: int | None = None) -> float:
        return 0.0

    def energy_import_wh(self) -> float:
        return 12.5


class FakeDaq(Fake):
    relay_count = 20

    def set_relay(self, channel: int, closed: bool) -> None:
        self._do("set_relay", channel, int(closed))

    def relay(self, channel: int) -> bool:
        return False

    def open_all(self) -> None:
        self._do("open_all")


class FakeScope(Fake):
    def pilot(self) -> PilotReading:
        return PilotReading(0.0, 100.0, 12.0, 12.0)


class FakeBoard(FakeScope):
    def apply(self, command: EvBoardCommand) -> None:
        self._do("apply", command.cp_state)

    def ev_current(self) -> float:
        return 0.0


FAKES: dict[str, type[Fake]] = {
    "chroma_61500": FakeAc,
    "eastron_sdm630": FakeMeter,
    "waveshare_relay": FakeDaq,
    "keysight_infiniivision": FakeScope,
    "can_ev_board": FakeBoard,
}


def make_config(roles: Sequence[tuple[str, str]], *, via: str | None = "daq") -> RigConfig:
    instruments: dict[str, Any] = {}
    for role, driver in roles:
        transport = {
            "chroma_61500": {"kind": "visa", "resource": f"TCPIP0::10.0.0.1::{role}::SOCKET"},
            "keysight_infiniivision": {"kind": "visa", "resource": f"TCPIP0::10.0.0.4::{role}::SOCKET"},
            "can_ev_board": {"kind": "can", "interface": "virtual", "channel": role},
        }.get(driver, {"kind": "modbus_tcp", "host": f"{role}.lab"})
        instruments[role] = {"driver": driver, "transport": transport}
    data: dict[str, Any] = {"station": {}, "dut": {"kind": "network"}, "instruments": instruments}
    if via is not None:
        relays = via == "daq"
        data["ev_emulator"] = {"via": via, "wiring": WIRING if relays else None, "pilot": "scope" if relays else None}
    return config_from_dict(data)


def factory(rec: Recorder, fail: dict[str, Sequence[str]] | None = None) -> Any:
    def build(role: str, inst: InstrumentConfig) -> Any:
        rec(f"{role}.open")
        if "open" in (fail or {}).get(role, ()):
            raise InstrumentError(role, inst.address, "cannot connect")
        return FAKES[inst.driver](role, rec, (fail or {}).get(role, ()))

    return build


SCOPE_ROLE = ("scope", "keysight_infiniivision")
ROLES = [("ac_source", "chroma_61500"), ("meter", "eastron_sdm630"), ("daq", "waveshare_relay"), SCOPE_ROLE]


# ------------------------------------------------------------------------------------------------ lifecycle
def test_open_in_order_close_in_reverse_identities_recorded() -> None:
    rec = Recorder()
    with Bench(make_config(ROLES), factory=factory(rec)) as bench:
        assert bench.roles == ["ac_source", "meter", "daq", "scope"]
        assert rec.of("open") == ["ac_source", "meter", "daq", "scope"]
        assert list(bench.identities) == ["ac_source", "meter", "daq", "scope"]
        assert bench.identities["meter"] == Identity("Fake", "FakeMeter", "meter")
        assert bench.ev_emulator is not None
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]
    assert bench.roles == []


def test_safe_state_order_ev_emulator_then_ac_then_relays() -> None:
    rec = Recorder()
    bench = Bench(make_config([("daq", "waveshare_relay"), *ROLES[:2], SCOPE_ROLE]), factory=factory(rec)).open()
    rec.calls.clear()
    bench.safe_state()
    relay_calls = [i for i, c in enumerate(rec.calls) if c.startswith("daq.set_relay")]
    safe = rec.of("safe_state")
    assert safe == ["ac_source", "daq", "meter", "scope"]  # AC first, then relays, then the rest
    assert relay_calls and max(relay_calls) < rec.calls.index("ac_source.safe_state")  # EV emulator released first
    assert all(c.endswith(",0)") for c in rec.calls if c.startswith("daq.set_relay"))  # every EV relay opened
    bench.close()


def test_safe_state_and_close_on_exception() -> None:
    rec = Recorder()
    with pytest.raises(RuntimeError, match="suite blew up"), Bench(make_config(ROLES), factory=factory(rec)):
        rec.calls.clear()
        raise RuntimeError("suite blew up")
    assert rec.of("safe_state") == ["ac_source", "daq", "meter", "scope"]
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]


def test_failing_instrument_does_not_stop_the_others() -> None:
    rec = Recorder()
    bench = Bench(make_config(ROLES), factory=factory(rec, {"ac_source": ["safe_state"]})).open()
    rec.calls.clear()
    with pytest.raises(InstrumentError) as info:
        bench.safe_state()
    assert rec.of("safe_state") == ["ac_source", "daq", "meter", "scope"]
    message = str(info.value)
    assert "instrument 'ac_source' at TCPIP0::10.0.0.1::ac_source::SOCKET" in message
    assert "safe state not reached by 1 instrument(s)" in message and "last command: safe_state" in message
    assert len(bench.safe_state_errors) == 1
    bench.close()
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]


def test_dead_ev_emulator_relays_still_let_ac_go_safe() -> None:
    rec = Recorder()
    bench = Bench(make_config(ROLES), factory=factory(rec, {"daq": ["set_relay", "safe_state"]})).open()
    rec.calls.clear()
    with pytest.raises(InstrumentError, match="2 instrument"):
        bench.safe_state()
    assert rec.of("safe_state") == ["ac_source", "daq", "meter", "scope"]
    bench.close()


def test_error_in_body_is_not_masked_by_safe_state_failure() -> None:
    rec = Recorder()
    with pytest.raises(KeyError), Bench(make_config(ROLES), factory=factory(rec, {"meter": ["safe_state"]})):
        raise KeyError("original")
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]


def test_safe_state_failure_after_clean_body_is_raised() -> None:
    rec = Recorder()
    with (
        pytest.raises(InstrumentError, match="'meter'"),
        Bench(make_config(ROLES), factory=factory(rec, {"meter": ["safe_state"]})),
    ):
        pass
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]


def test_open_failure_leaves_opened_ones_safe_and_closed() -> None:
    rec = Recorder()
    bench = Bench(make_config(ROLES), factory=factory(rec, {"meter": ["open"]}))
    with pytest.raises(InstrumentError, match=r"instrument 'meter' at meter\.lab:502/unit 1: cannot connect"):
        bench.open()
    assert rec.of("open") == ["ac_source", "meter"]
    assert rec.of("safe_state") == ["ac_source"]
    assert rec.of("close") == ["ac_source"]


def test_identity_failure_names_role_and_last_command() -> None:
    rec = Recorder()
    with pytest.raises(InstrumentError, match=r"'daq'.*last command: identity"):
        Bench(make_config(ROLES), factory=factory(rec, {"daq": ["identity"]})).open()
    assert rec.of("close") == ["daq", "meter", "ac_source"]


def test_foreign_errors_become_instrument_errors() -> None:
    def broken(role: str, inst: InstrumentConfig) -> Any:
        raise OSError("No route to host")

    with pytest.raises(InstrumentError, match=r"'ac_source' at TCPIP0.*open failed: OSError: No route to host"):
        Bench(make_config(ROLES), factory=broken).open()


def test_role_and_capability() -> None:
    rec = Recorder()
    with Bench(make_config(ROLES), factory=factory(rec)) as bench:
        assert isinstance(bench.capability("ac_source", AcSource), FakeAc)
        assert isinstance(bench.capability("meter", EnergyMeter), FakeMeter)
        assert isinstance(bench.capability("daq", RelayIo), FakeDaq)
        with pytest.raises(ConfigError, match="role 'meter' \\(driver eastron_sdm630\\) does not offer AcSource"):
            bench.capability("meter", AcSource)
        with pytest.raises(
            ConfigError, match="no instrument role 'grid' on this bench; roles: ac_source, meter, daq, scope"
        ):
            bench.role("grid")


def test_ev_emulator_on_a_board() -> None:
    rec = Recorder()
    config = make_config([*ROLES[:1], ("board", "can_ev_board")], via="board")
    with Bench(config, factory=factory(rec)) as bench:
        assert isinstance(bench.role("board"), EvEmulatorBoard)
        assert bench.ev_emulator is not None
        bench.ev_emulator.set_state("C")
        rec.calls.clear()
    assert rec.calls[0] == "board.apply(A)"  # released before AC off


def test_no_ev_emulator_without_section() -> None:
    with Bench(make_config(ROLES, via=None), factory=factory(Recorder())) as bench:
        assert bench.ev_emulator is None


# ------------------------------------------------------------------------------------------------- signals
def test_signal_handlers_installed_and_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with Bench(make_config(ROLES), factory=factory(Recorder())) as bench:
        bench.install_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) == bench._on_signal
        assert signal.getsignal(signal.SIGINT) == bench._on_signal
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigint_in_process_reaches_safe_state() -> None:
    rec = Recorder()
    with pytest.raises(KeyboardInterrupt), Bench(make_config(ROLES), factory=factory(rec)) as bench:
        bench.install_signal_handlers()
        rec.calls.clear()
        os.kill(os.getpid(), signal.SIGINT)
        wait_until(lambda: None, lambda _: False, timeout_s=5, what="KeyboardInterrupt from the bench's SIGINT handler")
    assert rec.of("safe_state") == ["ac_source", "daq", "meter", "scope"]  # once: not repeated on the way out
    assert rec.of("close") == ["scope", "daq", "meter", "ac_source"]


CHILD = """
import sys, time
from pathlib import Path
sys.path[:0] = [{repo!r}, {tests!r}]
from test_bench import Recorder, factory, make_config, ROLES
from rig.bench import Bench

rec = Recorder(Path({log!r}))
with Bench(make_config(ROLES), factory=factory(rec)) as bench:
    bench.install_signal_handlers()
    rec("ready.")
    time.sleep(30)  # until the test's SIGTERM (the bound ends a child the test lost)
rec("unreachable.")
"""


def test_sigterm_to_a_process_using_bench(tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), log=str(log))))
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE)

    def calls_so_far() -> str:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return log.read_text() if log.exists() else ""

    try:
        wait_until(calls_so_far, lambda text: "ready." in text, timeout_s=20, what="the child opening the bench")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    calls = log.read_text().split()
    after = calls[calls.index("ready.") + 1 :]
    assert [c.split(".")[0] for c in after if c.endswith(".safe_state")] == ["ac_source", "daq", "meter", "scope"]
    assert after.index("ac_source.safe_state") > max(i for i, c in enumerate(after) if c.startswith("daq.set_relay"))
    assert [c.split(".")[0] for c in after if c.endswith(".close")] == ["scope", "daq", "meter", "ac_source"]
    assert "unreachable." not in calls


# ------------------------------------------------------------------------------------------ rig bench check
def test_bench_check_dead_instrument_names_role_and_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rig.yaml"
    with refusing_port() as port:
        path.write_text(
            "station: {}\ndut: {kind: network}\ninstruments:\n  meter:\n    driver: eastron_sdm630\n"
            f"    transport: {{kind: modbus_tcp, host: 127.0.0.1, port: {port}, timeout_s: 0.5}}\n"
        )
        assert rig_main(["bench", "check", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"instrument 'meter' at 127.0.0.1:{port}" in err


SCOPE_CHANNELS = {"cp": {"channel": 1, "probe": 10}}
VIRTUAL_SPEC = {
    "roles": {
        "ac_source": {"driver": "chroma_61500"},
        "meter": {"driver": "eastron_sdm630"},
        "daq": {"driver": "keysight_daq970a", "wiring": WIRING},
        "scope": {"driver": "keysight_infiniivision", "params": {"channels": SCOPE_CHANNELS}},
    }
}


def served_instruments(ready: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """rig.yaml's instruments for a ready line, the scope with its channel map."""
    instruments = instruments_for(ready)
    if "scope" in instruments:
        instruments["scope"]["params"] = {"channels": SCOPE_CHANNELS}
    return instruments


def test_bench_check_on_the_virtual_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rig bench check` on the virtual bench's servers, started first on ports they bound themselves (rig.yaml is
    written from the ports their ready line names: they are instruments already on the network)."""
    path = tmp_path / "rig.yaml"
    with serve_spec(VIRTUAL_SPEC) as ready:
        rig_yaml = {
            "station": {},
            "dut": {"kind": "network"},
            "instruments": served_instruments(ready),
            "ev_emulator": {"via": "daq", "pilot": "scope", "wiring": WIRING},
        }
        path.write_text(yaml.safe_dump(rig_yaml))
        assert rig_main(["bench", "check", "--wiring", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "identity: Chroma ATE" in out and "measured" in out
    assert "energy" in out and "Wh" in out and "error queue: empty" in out
    assert "pilot" in out and "state A1" in out
    assert re.search(
        r"wiring: ok    state C: S2 with R3 1\.3 kOhm \(cp_connect relay 1, s2_c relay 2\): pilot [56]\.\d\d V", out
    )
    assert "wiring: ok    state A: every CP relay open (no relay closed): pilot 12.0" in out
    assert "wiring: ok    state E: CP shorted to PE (cp_connect relay 1, cp_pe_short relay 5)" in out
    assert "wiring: skip  PE interrupted in state B: channel pe_break not wired" in out
    assert "PP coding for a 32 A cable in state B (no effect on CP) (cp_connect relay 1, pp_220 relay 10)" in out
    assert "bench check passed: 4 instrument(s) answered and the EV emulator's wiring gives the predicted" in out


def test_bench_check_wiring_names_a_miswired_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """s2_c and s2_d swapped in rig.yaml (the relays are wired the other way round): both states fail, named."""
    path = tmp_path / "rig.yaml"
    with serve_spec(VIRTUAL_SPEC) as ready:
        rig_yaml = {
            "station": {},
            "dut": {"kind": "network"},
            "instruments": served_instruments(ready),
            "ev_emulator": {"via": "daq", "pilot": "scope", "wiring": {**WIRING, "s2_c": 3, "s2_d": 2}},
        }
        path.write_text(yaml.safe_dump(rig_yaml))
        assert rig_main(["bench", "check", "--wiring", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert re.search(
        r"wiring: FAIL  state C: S2 with R3 1\.3 kOhm \(cp_connect relay 1, s2_c relay 3\): pilot [23]\.", captured.out
    )
    assert "predicted 6 V +- 1 V (state C)" in captured.out
    assert "2 channel(s) do not give the predicted pilot: state C, state D; bench left in its safe state" in (
        captured.err
    )


def test_ev_emulator_states_on_the_virtual_bench() -> None:
    spec = {"roles": {role: VIRTUAL_SPEC["roles"][role] for role in ("ac_source", "daq", "scope")}}
    with serve_spec(spec) as ready:
        config = config_from_dict(
            {
                "station": {},
                "dut": {"kind": "network"},
                "instruments": served_instruments(ready),
                "ev_emulator": {"via": "daq", "pilot": "scope", "wiring": WIRING},
            }
        )
        with Bench(config) as bench:
            ev = bench.ev_emulator
            assert ev is not None
            for state in "ABCDE":
                ev.set_state(state)
                assert ev.pilot().state == state


def test_virtual_bench_serves_rig_yaml_roles_at_their_addresses() -> None:
    """What `rig run` and `rig bench check` start for a virtual DUT: rig.yaml's addresses, drivers and wiring."""
    config = config_from_dict(
        {
            "station": {},
            "dut": {"kind": "virtual"},
            "instruments": {
                "ac_source": {
                    "driver": "chroma_61500",
                    "transport": {"kind": "visa", "resource": "TCPIP0::127.0.0.1::5025::SOCKET"},
                },
                "daq": {
                    "driver": "waveshare_relay",
                    "transport": {"kind": "modbus_tcp", "host": "10.0.0.2", "port": 1502, "unit": 3},
                    "params": {"relay_count": 16, "coil_base": 16},
                },
                "ev": {"driver": "can_ev_board", "transport": {"kind": "can", "interface": "virtual", "channel": "b"}},
            },
            "ev_emulator": {"via": "daq", "pilot": "ev", "wiring": WIRING, "ev_max_current_a": 16},
        }
    )
    spec = virtual_bench_spec(config.instruments, config.ev_emulator)
    assert spec["roles"] == {
        "ac_source": {"driver": "chroma_61500", "host": "127.0.0.1", "port": 5025},
        "daq": {
            "driver": "waveshare_relay",
            "host": "10.0.0.2",
            "port": 1502,
            "params": {"unit_id": 3, "relay_count": 16, "coil_base": 16},
            "wiring": WIRING,
        },
        "ev": {"driver": "can_ev_board", "channel": "b", "params": {"interface": "virtual"}},
    }
    assert spec["plant"]["ev_max_current_a"] == 16


# ------------------------------------------------------------------------------------------ loss during a case
class FakeItem:
    """What rig.pytest_plugin.fixtures.lost_mid_case reads of a pytest item."""

    def __init__(self, bench: Bench, on_loss: str) -> None:
        from rig.pytest_plugin.state import CONFIG_KEY

        self.funcargs = {"bench": bench}
        self.name = "test_case"
        self.config = types.SimpleNamespace(stash=pytest.Stash())
        self.config.stash[CONFIG_KEY] = types.SimpleNamespace(on_loss=on_loss)
        self.session = types.SimpleNamespace(shouldstop=False)


@pytest.mark.parametrize("on_loss", ["stop", "continue"])
def test_an_instrument_lost_mid_case_fails_it_and_the_rest_goes_safe(on_loss: str) -> None:
    from rig.pytest_plugin.fixtures import lost_mid_case

    rec = Recorder()
    bench = Bench(make_config(ROLES), factory=factory(rec, {"daq": ["set_relay", "safe_state"]})).open()
    try:
        rec.calls.clear()
        item = FakeItem(bench, on_loss)
        lost = InstrumentError("daq", "daq.lab:502/unit 1", "no answer within 2 s", "FC05 0x0000")
        verdict = lost_mid_case(item, lost)  # type: ignore[arg-type]
        assert rec.of("safe_state") == ["ac_source", "meter", "scope"]  # the lost relay module is not asked again
        assert not any(c.startswith("daq.") for c in rec.calls)
        text = str(verdict)
        assert text.startswith("instrument 'daq' lost during this case: instrument 'daq' at daq.lab:502/unit 1")
        assert "every other instrument is in its safe state (" in text
        if on_loss == "stop":
            assert item.session.shouldstop == "instrument 'daq' lost during test_case (on_loss: stop)"
            assert text.endswith("the run stops (on_loss: stop)")
        else:
            assert item.session.shouldstop is False and text.endswith("the run continues (on_loss: continue)")
    finally:
        bench.close()


def test_the_dut_lost_mid_case_puts_every_instrument_safe() -> None:
    from rig.errors import DutUnreachable
    from rig.pytest_plugin.fixtures import lost_mid_case

    rec = Recorder()
    with Bench(make_config(ROLES), factory=factory(rec)) as bench:
        rec.calls.clear()
        verdict = lost_mid_case(FakeItem(bench, "stop"), DutUnreachable("no CASE session to node 0x1001"))  # type: ignore[arg-type]
        assert rec.of("safe_state") == ["ac_source", "daq", "meter", "scope"]
        assert str(verdict).startswith("the DUT lost during this case: no CASE session to node 0x1001")


def test_bench_check_holds_the_bench_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real bench checked while a run holds it: `rig bench check` stops at once naming the holder."""
    from rig.config import load_config
    from rig.session import lock_bench

    path = tmp_path / "rig.yaml"
    with serve_spec(VIRTUAL_SPEC) as ready:
        rig_yaml = {"station": {}, "dut": {"kind": "network"}, "instruments": served_instruments(ready)}
        path.write_text(yaml.safe_dump(rig_yaml))
        lock = lock_bench(load_config(path, environ={}), "20991231-000000-held")
        try:
            assert rig_main(["bench", "check", "--config", str(path)]) == 2
        finally:
            lock.release()
        assert rig_main(["bench", "check", "--config", str(path)]) == 0  # released: the check runs
    assert "bench in use by run 20991231-000000-held (pid" in capsys.readouterr().err


def test_only_a_gone_instrument_or_dut_is_a_loss() -> None:
    """An instrument that answered (a queued error, a measurement it could not make) or cannot do a thing, and a DUT
    that refused something, fail the case on their own account; a transport failure or a DUT that no longer
    answers is a loss."""
    from rig.errors import CommissioningError, DutLost, DutUnreachable, InstrumentError, InstrumentFault, Unsupported
    from rig.pytest_plugin.fixtures import is_loss

    assert is_loss(InstrumentError("meter", "127.0.0.1:502/1", "no valid response within 2 s"))
    assert is_loss(DutLost("the DUT stopped answering")) and is_loss(DutUnreachable("no CASE session"))
    assert not is_loss(InstrumentFault("scope", "TCPIP0::h::5025::SOCKET", "the scope could not measure (9.9e+37)"))
    assert not is_loss(Unsupported("grid", "TCPIP0::h::5025::SOCKET", "no list program"))
    assert not is_loss(CommissioningError("the DUT refused to open a commissioning window: BUSY"))
