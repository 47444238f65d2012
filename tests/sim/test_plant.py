"""Plant physics: pilot levels, duty <-> current, energy integration, faults reaching the EVSE inputs."""

from __future__ import annotations

import asyncio

import pytest

from rig.sim.plant import Plant, current_to_duty, duty_to_current

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


async def test_energy_integration_over_a_load_profile() -> None:
    plant = Plant(ev_max_current_a=80)
    plant.set_ac_output(True)
    ev(plant, "C")
    expected_j = 0.0
    profile = [(53.3, 0.3), (26.7, 0.2), (None, 0.15), (80.0, 0.25)]
    t_prev = plant.now_ns()
    power = 0.0
    for duty, hold in profile:
        plant.set_evse_outputs("pwm" if duty else "+12V", duty, bool(duty))
        t = plant.now_ns()
        expected_j += power * (t - t_prev) / 1e9
        t_prev, power = t, plant.power_w()
        await asyncio.sleep(hold)
    # a sag in the middle of the last segment via the list program
    t_trig = plant.run_program([(180.0, 0.1), (0.0, 0.05)])
    expected_j += power * (t_trig - t_prev) / 1e9
    await asyncio.sleep(0.3)
    amps = duty_to_current(80.0)
    expected_j += 180.0 * amps * 0.1  # the dropout draws nothing
    t_end = plant.now_ns()
    expected_j += 230.0 * amps * (t_end - (t_trig + 150_000_000)) / 1e9
    assert plant.energy_wh(t_end) * 3600 == pytest.approx(expected_j, rel=0.005)
    assert plant.program is None and plant.mains_v() == 230.0


async def test_list_program_timeline_and_evse_inputs() -> None:
    plant = Plant()
    plant.set_ac_output(True)
    seen: list[tuple[int, float]] = []
    plant.add_listener(lambda p: seen.append((p.now_ns(), p.evse_inputs()["mains_v"])))
    t0 = plant.run_program([(190.0, 0.05), (0.0, 0.05), (260.0, 0.05)])
    await asyncio.sleep(0.2)
    values = [v for _, v in seen]
    assert values == [190.0, 0.0, 260.0, 230.0]
    times = [(t - t0) / 1e6 for t, _ in seen]
    assert times[1] == pytest.approx(50, abs=5) and times[3] == pytest.approx(150, abs=5)


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
