"""Plant physics: pilot levels, duty <-> current, faults reaching the EVSE inputs; timing (list programs, the EVSE's
PWM and contactor delays, an RCD trip, energy integration) on a manual clock, with exact expectations."""

from __future__ import annotations

from typing import Any

import pytest

from rig.sim.daq import KeysightDaq970a
from rig.sim.plant import Plant, current_to_duty, duty_to_current
from tests.sim.manual_clock import ManualClock

NOMINAL = {"A": 12.0, "B": 8.98, "C": 5.99, "D": 2.93, "E": 0.0}


def ev(plant: Plant, state: str, **extra: bool) -> None:
    """Set the EV side like an emulator would."""
    sw = {"cp_connect": state in "BCDE", "s2_c": state == "C", "s2_d": state == "D", "cp_pe_short": state == "E"}
    plant.set_switches({**sw, **extra})


@pytest.mark.parametrize("state", ["A", "B", "C", "D", "E"])
@pytest.mark.parametrize("mode", ["+12V", "pwm"])
def test_pilot_levels(state: str, mode: str) -> None:
    plant = Plant()
    plant.set_evse_outputs(mode, 53.3 if mode == "pwm" else None, False)
    ev(plant, state)
    p = plant.pilot()
    assert p.high_v == pytest.approx(NOMINAL[state], abs=0.2)
    assert p.state == state
    if mode == "pwm":
        assert p.pwm and p.frequency_hz == 1000.0 and p.duty_pct == 53.3
        assert p.low_v == pytest.approx(0.0 if state == "E" else -12.0, abs=0.2)
    assert plant.evse_inputs()["cp_high_v"] == pytest.approx(NOMINAL[state], abs=0.2)


def test_state_f_and_off() -> None:
    plant = Plant()
    ev(plant, "B")
    plant.set_evse_outputs("-12V", None, False)
    assert plant.pilot().high_v == pytest.approx(-12.0) and plant.pilot().state == "F"
    plant.set_evse_outputs("off", None, False)
    assert plant.pilot().high_v == pytest.approx(0.0)


def test_diode_short_and_pe_break() -> None:
    plant = Plant()
    plant.set_evse_outputs("pwm", 53.3, False)
    ev(plant, "B", diode_bypass=True)
    p = plant.pilot()
    assert p.low_v == pytest.approx(-8.8, abs=0.2)
    assert plant.evse_inputs()["cp_low_v"] == pytest.approx(-8.8, abs=0.2)
    ev(plant, "C", diode_bypass=False, pe_break=True)
    assert plant.pilot().high_v == pytest.approx(12.0) and plant.pilot().state == "A"


def test_cp_low_not_sent_without_pwm() -> None:
    plant = Plant()
    ev(plant, "B")
    assert plant.evse_inputs()["cp_low_v"] is None


@pytest.mark.parametrize(
    ("duty", "amps"), [(16, 9.6), (25, 15), (50, 30), (53, 31.8), (85, 51), (96, 80), (9, 6), (5, 0), (98, 0)]
)
def test_duty_to_current(duty: float, amps: float) -> None:
    assert duty_to_current(duty) == pytest.approx(amps)


@pytest.mark.parametrize(
    ("amps", "duty"), [(6, 10.0), (16, 26.7), (24, 40.0), (32, 53.3), (63, 89.2), (80, 96.0), (5, None)]
)
def test_current_to_duty(amps: float, duty: float | None) -> None:
    assert current_to_duty(amps) == duty
    if duty is not None:
        assert duty_to_current(duty) == pytest.approx(amps, abs=0.1)


def test_ev_draws_min_of_pwm_and_own_limit() -> None:
    plant = Plant(ev_max_current_a=16.0)
    plant.set_ac_output(True)
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 53.3, True)
    assert plant.ev_current_a() == pytest.approx(16.0)
    plant.set_ev_max_current(40)
    assert plant.ev_current_a() == pytest.approx(31.98)
    assert plant.power_w() == pytest.approx(31.98 * 230)
    ev(plant, "B")
    assert plant.ev_current_a() == 0.0
    three = Plant(phases=3)
    three.set_ac_output(True)
    ev(three, "C")
    three.set_evse_outputs("pwm", 26.7, True)
    assert three.power_w() == pytest.approx(3 * 230 * 16.02)


MS = 1_000_000  # ns


def on_clock(**kwargs: Any) -> tuple[Plant, ManualClock]:
    """A plant on simulated time, mains on, at the plant's first instant."""
    clock = ManualClock()
    plant = Plant(clock=clock, **kwargs)
    plant.set_ac_output(True)
    return plant, clock


def test_energy_integration_over_a_load_profile() -> None:
    plant, clock = on_clock(ev_max_current_a=80)
    ev(plant, "C")
    expected_j = 0.0
    for duty, hold in [(53.3, 0.3), (26.7, 0.2), (None, 0.15), (80.0, 0.25)]:
        plant.set_evse_outputs("pwm" if duty else "+12V", duty, bool(duty))
        clock.advance(hold)
        expected_j += 230.0 * (duty_to_current(duty) if duty else 0.0) * hold
    assert plant.energy_wh() * 3600 == pytest.approx(expected_j, rel=1e-12)
    # a sag, then a dropout in the middle of the last segment (the dropout draws nothing), then back to 230 V
    amps = duty_to_current(80.0)
    t_trig = plant.run_program([(180.0, 0.1), (0.0, 0.05)])
    clock.advance(0.3)
    expected_j += 180.0 * amps * 0.1 + 0.0 * 0.05 + 230.0 * amps * 0.15
    assert plant.energy_wh() * 3600 == pytest.approx(expected_j, rel=1e-12)
    assert plant.program is None and plant.mains_v() == 230.0
    assert plant.now_ns() - t_trig == 300 * MS


def test_list_program_timeline_and_evse_inputs() -> None:
    plant, clock = on_clock()
    seen: list[tuple[int, float]] = []
    plant.add_listener(lambda p: seen.append((p.now_ns(), p.evse_inputs()["mains_v"])))
    t0 = plant.run_program([(190.0, 0.05), (0.0, 0.05), (260.0, 0.05)])
    assert clock.pending() == [t0 + 50 * MS, t0 + 100 * MS, t0 + 150 * MS]
    clock.advance(0.2)
    assert [((t - t0) // MS, v) for t, v in seen] == [(0, 190.0), (50, 0.0), (100, 260.0), (150, 230.0)]
    assert plant.program is None and clock.pending() == []


def test_cancelled_program_makes_no_further_change() -> None:
    plant, clock = on_clock()
    plant.run_program([(190.0, 0.05), (0.0, 0.05)])
    clock.advance(0.01)
    plant.cancel_program()
    assert plant.mains_v() == 230.0 and clock.pending() == []
    seen: list[float] = []
    plant.add_listener(lambda p: seen.append(p.mains_v()))
    clock.advance(1.0)
    assert seen == []


@pytest.mark.parametrize("dwells", [[1.265, 0.619, 1.676], [0.3, 0.7], [0.001]])
def test_program_ends_at_its_last_boundary(dwells: list[float]) -> None:
    """The program is over at its last segment boundary, whatever the rounding of the dwells to ns."""
    plant, clock = on_clock()
    t0 = plant.run_program([(200.0, d) for d in dwells])
    clock.advance_to(clock.pending()[-1])
    assert plant.program is None and plant.mains_v() == 230.0
    assert plant.now_ns() - t0 == sum(round(d * 1e9) for d in dwells)


# EVSE hardware timing as the virtual EVSE's `hardware` options set it (ms): the plant stamps what the EVSE does
# when it does it; the EVSE's reactions are scheduled on the plant's clock.
PWM_START_MS, CONTACTOR_CLOSE_MS, CONTACTOR_OPEN_MS, RCD_TRIP_MS = 100, 200, 20, 25


def evse_after(plant: Plant, clock: ManualClock, delay_ms: int, mode: str, duty: float | None, contactor: bool) -> int:
    """The EVSE sets its outputs ``delay_ms`` after now; returns that time."""
    t = clock.now_ns() + delay_ms * MS
    clock.call_at(t, lambda: plant.set_evse_outputs(mode, duty, contactor))
    return t


def test_pwm_and_contactor_delays_through_the_daq_relays() -> None:
    """Relays switched through the virtual DAQ970A: the plant records the EVSE's PWM start, contactor close and open
    delays exactly (the ground truth a bench's scope captures are checked against)."""
    plant, clock = on_clock()
    daq = KeysightDaq970a(plant, {}, {"cp_connect": 1, "s2_c": 2, "pp_220": 10})
    daq.handle_line("ROUT:CLOS (@310)")  # PP 220 ohm: 32 A cable
    t_start = clock.now_ns()
    clock.advance(0.001)
    daq.handle_line("ROUT:CLOS (@301)")  # B
    evse_after(plant, clock, PWM_START_MS, "pwm", 53.3, False)
    clock.advance(0.3)
    assert plant.pilot().duty_pct == 53.3
    daq.handle_line("ROUT:CLOS (@302)")  # C
    t_close = evse_after(plant, clock, CONTACTOR_CLOSE_MS, "pwm", 53.3, True)
    clock.advance(0.7)
    daq.handle_line("ROUT:OPEN (@302)")  # back to B
    t_open = evse_after(plant, clock, CONTACTOR_OPEN_MS, "pwm", 53.3, False)
    clock.advance(0.1)
    edges = [(e.signal, round(e.t_ns / MS), e.level) for e in plant.edges_after(t_start)]
    t0_ms = edges[0][1]
    assert [(sig, t - t0_ms, level) for sig, t, level in edges] == [
        ("CP_STATE", 0, 1),
        ("PWM_ON", PWM_START_MS, 1),
        ("CP_STATE", 300, 2),
        ("CONTACTOR_CLOSED", 300 + CONTACTOR_CLOSE_MS, 1),
        ("CP_STATE", 1000, 1),
        ("CONTACTOR_OPEN", 1000 + CONTACTOR_OPEN_MS, 0),
    ]
    # 32 A offered, the EV draws until it opens S2 (the contactor opens later, with nothing flowing)
    assert plant.energy_wh() * 3600 == pytest.approx(230.0 * duty_to_current(53.3) * 0.5, rel=1e-12)
    assert (t_open - t_close) // MS == 520


def test_residual_current_trip_opens_the_contactor_and_stays_injected() -> None:
    plant, clock = on_clock()
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 26.7, True)
    clock.advance(1.0)
    plant.set_switches({"rcd_ac_30ma": True})
    t_inject = plant.now_ns()
    assert plant.evse_inputs()["residual_ma_ac"] == 30.0
    t_trip = evse_after(plant, clock, RCD_TRIP_MS, "-12V", None, False)
    clock.advance(1.0)
    opened = [e for e in plant.edges if e.signal == "CONTACTOR_OPEN"]
    assert [e.t_ns - t_inject for e in opened] == [RCD_TRIP_MS * MS] and opened[0].t_ns == t_trip
    assert plant.evse_inputs()["residual_ma_ac"] == 30.0, "the test current does not flow through the contactor"
    assert plant.energy_wh() * 3600 == pytest.approx(230.0 * duty_to_current(26.7) * (1.0 + RCD_TRIP_MS / 1000))


def test_evse_output_is_stamped_at_the_evse_time_not_its_arrival() -> None:
    plant, clock = on_clock()
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 26.7, False)
    clock.advance(1.0)
    t_evse = clock.now_ns()
    clock.advance(0.003)  # the output event arrives 3 ms after the EVSE changed the output
    plant.set_evse_outputs("pwm", 26.7, True, t_ns=t_evse)
    assert plant.edges[-1].signal == "CONTACTOR_CLOSED" and plant.edges[-1].t_ns == t_evse
    clock.advance(0.997)
    assert plant.energy_wh() * 3600 == pytest.approx(230.0 * duty_to_current(26.7) * 1.0, rel=1e-12)
    # a stamp before the plant's last change is clamped to it: time never goes back
    plant.set_switches({"pp_220": True})
    t_change = clock.now_ns()
    plant.set_evse_outputs("pwm", 26.7, False, t_ns=t_change - 10 * MS)
    assert plant.edges[-1].signal == "CONTACTOR_OPEN" and plant.edges[-1].t_ns == t_change


def test_mains_loss_drops_the_contactor_at_that_instant() -> None:
    plant, clock = on_clock()
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 26.7, True)
    clock.advance(0.5)
    plant.set_ac_output(False)
    assert (plant.edges[-1].signal, plant.edges[-1].t_ns) == ("CONTACTOR_OPEN", clock.now_ns())
    clock.advance(0.5)
    assert plant.energy_wh() * 3600 == pytest.approx(230.0 * duty_to_current(26.7) * 0.5, rel=1e-12)


def test_board_clock_counts_ms_since_the_plant_started() -> None:
    plant, clock = on_clock()
    clock.advance(1.2345)
    assert plant.board_ms() == 1234
    assert plant.board_ms(plant.t0_ns + (2**32 + 7) * MS) == 7, "uint32 wrap"


def test_faults_reach_evse_inputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "plant.jsonl"
    plant = Plant(log_path=log)
    ev(plant, "B")
    plant.set_switches({"rcd_ac_30ma": True})
    assert plant.evse_inputs()["residual_ma_ac"] == 30.0
    plant.set_switches({"rcd_ac_30ma": False, "rcd_dc_6ma": True})
    assert plant.evse_inputs()["residual_ma_dc"] == 6.0
    assert plant.evse_inputs()["mains_v"] == 0.0  # output off = power loss
    plant.set_ac_output(True)
    plant.set_ac_voltage(260)
    assert plant.evse_inputs()["mains_v"] == 260.0
    plant.set_ac_voltage(200)
    assert plant.evse_inputs()["mains_v"] == 200.0
    plant.set_temperature(90)
    assert plant.evse_inputs()["temperature_c"] == 90.0
    plant.set_switches({"pp_220": True})
    assert plant.evse_inputs()["pp_ohm"] == 220.0
    plant.close()
    import json

    last = json.loads(log.read_text().splitlines()[-1])
    assert last["final"] and last["ac_on"] and last["ac_v"] == 200.0 and last["cp_state"] == "B"


def test_edges_recorded() -> None:
    plant = Plant()
    plant.set_ac_output(True)
    ev(plant, "B")
    plant.set_evse_outputs("pwm", 53.3, False)
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 53.3, True)
    sig = [(e.signal, e.level) for e in plant.edges]
    assert sig == [("CP_STATE", 1), ("PWM_ON", 1), ("CP_STATE", 2), ("CONTACTOR_CLOSED", 1)]


def test_contactor_drops_when_the_mains_goes_and_needs_it_to_close() -> None:
    plant = Plant()
    plant.set_ac_output(True)
    ev(plant, "C")
    plant.set_evse_outputs("pwm", 26.7, True)
    assert plant.contactor
    plant.set_ac_output(False)  # the coil is fed from the mains
    assert not plant.contactor
    assert [e.signal for e in plant.edges][-1] == "CONTACTOR_OPEN"
    plant.set_evse_outputs("pwm", 26.7, True)
    assert not plant.contactor, "no supply, no hold: the command alone does not close it"
    plant.set_ac_output(True)
    assert plant.contactor, "the still-commanded contactor closes when the supply returns"
