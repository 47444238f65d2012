"""EvEmulator: relay combinations per state on a recording RelayIo, the board path, the pilot meter and status."""

from __future__ import annotations

import copy

import pytest

from rig.errors import ConfigError
from rig.ev_emulator import EvEmulator, EvModel
from rig.instruments.capabilities import EvBoardCommand, Identity, PilotReading
from tests.support import FULL_WIRING

WIRING = FULL_WIRING
CHANNEL = {relay: name for name, relay in WIRING.items()}


class FakeRelays:
    """RelayIo recording every relay call; its ``meter`` is the PilotMeter it is paired with."""

    role = "daq"
    relay_count = 20

    def __init__(self) -> None:
        self.closed: set[int] = set()
        self.calls: list[tuple[str, bool]] = []
        self.meter = FakeMeter()

    @property
    def reading(self) -> PilotReading:
        return self.meter.reading

    @reading.setter
    def reading(self, value: PilotReading) -> None:
        self.meter.reading = value

    def identity(self) -> Identity:
        return Identity("fake", "relays")

    def safe_state(self) -> None:
        self.open_all()

    def close(self) -> None:
        pass

    def set_relay(self, channel: int, closed: bool) -> None:
        self.calls.append((CHANNEL[channel], closed))
        (self.closed.add if closed else self.closed.discard)(channel)

    def relay(self, channel: int) -> bool:
        return channel in self.closed

    def open_all(self) -> None:
        self.closed.clear()

    def closed_channels(self) -> set[str]:
        return {CHANNEL[r] for r in self.closed}


class FakeMeter:
    """PilotMeter answering a set reading."""

    def __init__(self) -> None:
        self.reading = PilotReading(1000.0, 25.0, 9.0, -12.0)

    def pilot(self) -> PilotReading:
        return self.reading


class FakeBoard(FakeRelays):
    """EvEmulatorBoard recording applied commands."""

    role = "ev_board"

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[EvBoardCommand] = []

    def apply(self, command: EvBoardCommand) -> None:
        self.commands.append(copy.deepcopy(command))

    def ev_current(self) -> float:
        return 0.0

    def pilot(self) -> PilotReading:
        return self.meter.reading


class PlainMeter:
    role = "meter"

    def identity(self) -> Identity:
        return Identity("fake", "meter")

    def safe_state(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def relays() -> FakeRelays:
    return FakeRelays()


@pytest.fixture
def ev(relays: FakeRelays) -> EvEmulator:
    return EvEmulator(relays, pilot=relays.meter, wiring=WIRING, role="daq")


@pytest.mark.parametrize(
    ("state", "closed"),
    [
        ("A", set()),
        ("B", {"cp_connect"}),
        ("C", {"cp_connect", "s2_c"}),
        ("D", {"cp_connect", "s2_d"}),
        ("E", {"cp_connect", "cp_pe_short"}),
    ],
)
def test_state_relay_combinations(ev: EvEmulator, relays: FakeRelays, state: str, closed: set[str]) -> None:
    for before in ("A", "B", "C", "D", "E"):
        ev.set_state(before)
        ev.set_state(state)
        assert relays.closed_channels() == closed, f"{before} -> {state}"
    assert ev.state == state


def test_break_before_make_c_to_d(ev: EvEmulator, relays: FakeRelays) -> None:
    ev.set_state("C")
    relays.calls.clear()
    ev.set_state("D")
    opens = [i for i, (ch, c) in enumerate(relays.calls) if not c]
    closes = [i for i, (ch, c) in enumerate(relays.calls) if c]
    assert max(opens) < min(closes)
    assert ("s2_c", False) in relays.calls and ("s2_d", True) in relays.calls


def test_state_f_is_refused_with_an_explanation(ev: EvEmulator) -> None:
    with pytest.raises(ValueError, match="driven by the EVSE"):
        ev.set_state("F")
    with pytest.raises(ValueError, match="unknown CP state 'X'"):
        ev.set_state("X")


def test_faults_and_residual_current(ev: EvEmulator, relays: FakeRelays) -> None:
    ev.set_state("C")
    ev.diode_fault(True)
    ev.pe_break(True)
    ev.residual_current(ac_30ma=True)
    assert relays.closed_channels() == {"cp_connect", "s2_c", "diode_bypass", "pe_break", "rcd_ac_30ma"}
    ev.residual_current(dc_6ma=True)
    assert "rcd_ac_30ma" not in relays.closed_channels() and "rcd_dc_6ma" in relays.closed_channels()
    ev.diode_fault(False)
    ev.pe_break(False)
    ev.residual_current()
    assert relays.closed_channels() == {"cp_connect", "s2_c"}


@pytest.mark.parametrize(("amps", "channel"), [(13, "pp_1500"), (20, "pp_680"), (32, "pp_220"), (63, "pp_100")])
def test_cable_codes_at_most_one_pp_relay(ev: EvEmulator, relays: FakeRelays, amps: int, channel: str) -> None:
    for other in (13, 20, 32, 63):
        ev.set_cable(other)
        ev.set_cable(amps)
        pp = {c for c in relays.closed_channels() if c.startswith("pp_")}
        assert pp == {channel}
    ev.set_cable(None)
    assert not {c for c in relays.closed_channels() if c.startswith("pp_")}
    assert ev.cable_a is None


def test_cable_rating_checked(ev: EvEmulator) -> None:
    with pytest.raises(ValueError, match="no PP coding for a 16 A cable"):
        ev.set_cable(16)  # type: ignore[arg-type]


def test_release_all_opens_everything(ev: EvEmulator, relays: FakeRelays) -> None:
    ev.set_state("D")
    ev.set_cable(32)
    ev.diode_fault(True)
    ev.residual_current(ac_30ma=True, dc_6ma=True)
    ev.release_all()
    assert relays.closed_channels() == set()
    assert ev.state == "A" and ev.cable_a is None


def test_unwired_channel_named(relays: FakeRelays) -> None:
    ev = EvEmulator(relays, pilot=relays.meter, wiring={"cp_connect": 1, "s2_c": 2}, role="daq")
    ev.set_state("C")
    ev.release_all()  # only wired relays are touched
    with pytest.raises(ConfigError, match="state D needs channel s2_d, which is not wired"):
        ev.set_state("D")


def test_instrument_must_offer_relays_or_board() -> None:
    with pytest.raises(ConfigError, match="offers neither RelayIo nor EvEmulatorBoard"):
        EvEmulator(PlainMeter(), role="meter")
    relays = FakeRelays()
    with pytest.raises(ConfigError, match=r"ev_emulator\.wiring"):
        EvEmulator(relays, pilot=relays.meter, wiring=None, role="daq")
    with pytest.raises(ConfigError, match=r"ev_emulator\.pilot: role 'daq' switches relays only"):
        EvEmulator(relays, wiring=WIRING, role="daq")
    with pytest.raises(ConfigError, match=r"ev_emulator\.pilot: PlainMeter cannot measure the pilot"):
        EvEmulator(relays, pilot=PlainMeter(), wiring=WIRING, role="daq")


def test_wiring_beyond_the_relays_is_refused() -> None:
    relays = FakeRelays()
    relays.relay_count = 8
    with pytest.raises(ConfigError, match=r"pp_100: 9, pp_220: 10, .* beyond the 8 relays of role 'daq' \(1\.\.8\)"):
        EvEmulator(relays, pilot=relays.meter, wiring=WIRING, role="daq")


def test_board_gets_complete_commands() -> None:
    board = FakeBoard()
    ev = EvEmulator(board, ev_max_current_a=16.0, role="ev_board")
    ev.set_state("C")
    ev.set_cable(20)
    ev.diode_fault(True)
    ev.residual_current(dc_6ma=True)
    ev.pe_break(True)
    last = board.commands[-1]
    assert (last.cp_state, last.pp_amps, last.diode_bypass, last.rcd_dc_6ma, last.pe_break) == (
        "C",
        20,
        True,
        True,
        True,
    )
    assert last.ev_max_current_a == 16.0 and not last.rcd_ac_30ma
    ev.release_all()
    assert board.commands[-1] == EvBoardCommand(ev_max_current_a=16.0)
    with pytest.raises(ValueError, match="state F"):
        ev.set_state("F")


@pytest.mark.parametrize(
    ("reading", "state", "pwm", "offered", "diode"),
    [
        (PilotReading(1000.0, 25.0, 9.0, -12.0), "B", True, 15.0, False),
        (PilotReading(0.0, 100.0, 9.0, 9.0), "B", False, 0.0, False),
        (PilotReading(1000.0, 53.3, 6.0, -12.0), "C", True, 32.0, False),
        (PilotReading(1000.0, 50.0, 8.8, -8.8), "B", True, 30.0, True),
        (PilotReading(0.0, 0.0, -12.0, -12.0), "F", False, 0.0, False),
        (PilotReading(0.0, 0.0, 0.0, 0.0), "E", False, 0.0, False),
    ],
)
def test_pilot_status(
    ev: EvEmulator, relays: FakeRelays, reading: PilotReading, state: str, pwm: bool, offered: float, diode: bool
) -> None:
    relays.reading = reading
    status = ev.pilot()
    assert (status.state, status.pwm_on, status.diode_fault) == (state, pwm, diode)
    assert status.offered_a == pytest.approx(offered, abs=0.05)
    assert status.reading is reading


def test_demand_follows_state_and_ev_limit(relays: FakeRelays) -> None:
    ev = EvEmulator(relays, pilot=relays.meter, wiring=WIRING, ev_max_current_a=16.0, role="daq")
    relays.reading = PilotReading(1000.0, 53.3, 6.0, -12.0)
    ev.set_state("B")
    assert ev.demand_a() == 0.0
    ev.set_state("C")
    assert ev.demand_a() == 16.0
    relays.reading = PilotReading(1000.0, 16.0, 6.0, -12.0)
    assert ev.demand_a() == pytest.approx(9.6)
    relays.reading = PilotReading(0.0, 100.0, 6.0, 6.0)
    assert ev.demand_a() == 0.0


def test_ev_model() -> None:
    model = EvModel(max_current_a=32.0, phases=3)
    assert model.current("C", 25.0) == 15.0
    assert model.current("D", 96.0) == 32.0
    assert model.current("B", 50.0) == 0.0
    assert model.current("C", 5.0) == 0.0  # digital communication: no current offered by PWM
    assert model.current("C", 50.0, pwm_on=False) == 0.0
    assert model.power_w("C", 25.0, 230.0) == pytest.approx(15.0 * 230.0 * 3)
    with pytest.raises(ValueError):
        EvModel(max_current_a=0)
    with pytest.raises(ValueError):
        EvModel(phases=2)
