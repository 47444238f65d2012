"""The virtual bench's physical plant: mains, pilot circuit, PP, residual current, contactor, EV load and meters.

Everything runs on one plant clock, so edges, list-program trigger times and energy integration share one time base
with 1 ms accuracy. The clock is injected (:class:`Clock`): the virtual bench runs on :class:`MonotonicClock`
(``time.monotonic_ns()``, the same clock as ``asyncio``'s loop time, which schedules the list-program boundaries);
tests drive the plant on a manual clock, on simulated time. The plant is
event-driven: every input (an instrument server setting a relay, the EVSE reporting an output change, a list-program
segment boundary) updates the state at an exact timestamp; energy is integrated piecewise-constant between those
timestamps, so it is exact for the modelled load. Listeners (the EVSE link, the CAN board) are called after every
change.

Pilot circuit (IEC 61851-1 Annex A): the EVSE's ±12 V source behind R1 = 1 kΩ against the EV side: diode (0.7 V) then
R2 = 2.74 kΩ to PE, S2 switching R3 = 1.3 kΩ (``s2_c``) or 270 Ω (``s2_d``) in parallel with R2. ``diode_bypass``
shorts the diode, ``cp_pe_short`` shorts CP to PE, ``pe_break`` or an open ``cp_connect`` leave the CP line unloaded
(the EVSE reads its own source voltage). The EV-side switches are the EV emulator's channels
(:mod:`rig.ev_emulator.channels`, docs/bench-protocols.md §3); the duty <-> current arithmetic is
:mod:`rig.ev_emulator.pilot`'s and the mains default :mod:`rig.bench.mains`'.

Residual current injection (``rcd_ac_30ma`` / ``rcd_dc_6ma``) is a test current through the EVSE's RCD sensor and
flows independently of the contactor (so an EVSE that opens its contactor on the fault does not clear it itself).
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.ev_emulator.channels import (
    CP_CONNECT,
    CP_PE_SHORT,
    DIODE_BYPASS,
    EV_CHANNELS,
    PE_BREAK,
    PP_OHM,
    RCD_AC_30MA,
    RCD_DC_6MA,
    S2_C,
    S2_D,
)
from rig.ev_emulator.pilot import duty_for_offer
from rig.ev_emulator.pilot import duty_to_current as duty_to_current  # the EV's reading of the duty (re-exported)

R1_OHM = 1000.0
R2_OHM = 2740.0
R3_C_OHM = 1300.0
R3_D_OHM = 270.0
DIODE_V = 0.7
SOURCE_V = 12.0
PWM_HZ = 1000.0
SWITCHES = EV_CHANNELS
"""The plant's EV-side switches: the EV emulator's channels (PP resistors in :data:`PP_OHM`)."""
CP_STATES = "ABCDEF"
CP_STATE_INVALID = 15
SIGNAL_IDS = {"PWM_ON": 1, "PWM_OFF": 2, "CONTACTOR_CLOSED": 3, "CONTACTOR_OPEN": 4, "CP_STATE": 5}
MAX_EDGES = 10000
MAX_SIGNAL_STATES = 10000


current_to_duty = duty_for_offer
"""EVSE-side duty for a current offer as the virtual EVSE sends it: :func:`rig.ev_emulator.pilot.duty_for_offer`
(the plant's name for it; the EV-side reading, :func:`duty_to_current`, is :mod:`rig.ev_emulator.pilot`'s too)."""


def classify_cp(high_v: float | None) -> str | None:
    """IEC 61851-1 state letter from the high level (windows ±1.1 V), ``"?"`` if invalid, None if unknown."""
    if high_v is None:
        return None
    for letter, nominal in zip("ABCDEF", (12.0, 9.0, 6.0, 3.0, 0.0, -12.0), strict=True):
        if abs(high_v - nominal) <= 1.1:
            return letter
    return "?"


COIL_DROPOUT_V = 50.0  # below this supply voltage the contactor coil cannot hold (power loss)


@dataclass(frozen=True)
class PilotLevels:
    """The pilot at the sense point (the same node for the EVSE and the DAQ)."""

    high_v: float
    low_v: float
    pwm: bool
    duty_pct: float
    frequency_hz: float
    state: str  # A..F, "?" for an invalid level


@dataclass(frozen=True)
class PlantEdge:
    """One edge on the plant clock."""

    signal: str
    t_ns: int
    level: int

    @property
    def signal_id(self) -> int:
        """Numeric id per docs/bench-protocols.md §3.1."""
        return SIGNAL_IDS[self.signal]


@dataclass(frozen=True)
class SignalState:
    """What a probe on the plant sees from ``t_ns`` until the next state (:meth:`Plant.signal_history`).

    Attributes:
        t_ns: when this state began, plant clock, ns.
        pilot: the pilot at the sense point (the EV side).
        pwm_since_ns: start of the running PWM (its rising edges are at ``pwm_since_ns + k / PWM_HZ``), ns.
        contactor: the physical contactor is closed (the EVSE output carries the mains).
        mains_v: the AC source's output voltage, V rms (0 when off).
        mains_hz: the AC source's frequency, Hz.
        residual_ma: the residual test currents injected (AC mA rms, DC mA), as :meth:`Plant.residual_ma`.
    """

    t_ns: int
    pilot: PilotLevels
    pwm_since_ns: int
    contactor: bool
    mains_v: float
    mains_hz: float
    residual_ma: tuple[float, float] = (0.0, 0.0)


class TimerHandle(Protocol):
    """A scheduled call that can still be cancelled (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Do not make the call (no effect once made)."""
        ...


class Clock(Protocol):
    """The plant's time base: what time it is, and a call at a later time (list-program segment boundaries)."""

    def now_ns(self) -> int:
        """Get the time, ns (monotonic: never goes back)."""
        ...

    def call_at(self, t_ns: int, callback: Callable[[], None]) -> TimerHandle:
        """Call ``callback()`` once the clock reads ``t_ns`` or later; the handle cancels the call."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic_ns()``, and calls scheduled on the running asyncio loop (the same clock)."""

    def now_ns(self) -> int:
        """Get ``time.monotonic_ns()``, ns."""
        return time.monotonic_ns()

    def call_at(self, t_ns: int, callback: Callable[[], None]) -> TimerHandle:
        """Schedule ``callback`` on the running loop at ``t_ns`` (must be called inside the running asyncio loop)."""
        return asyncio.get_running_loop().call_at(t_ns / 1e9, callback)


@dataclass
class ListProgram:
    """A running AC list program: (voltage, dwell) segments from ``start_ns``."""

    steps: list[tuple[float, float]]
    start_ns: int
    handles: list[TimerHandle] = field(default_factory=list)

    def boundaries_ns(self) -> list[int]:
        """End of each segment, ns (each dwell rounded to the ns once, so every use agrees on them)."""
        ends, t = [], self.start_ns
        for _, dwell in self.steps:
            t += round(dwell * 1e9)
            ends.append(t)
        return ends

    @property
    def end_ns(self) -> int:
        """End of the last segment."""
        return self.boundaries_ns()[-1] if self.steps else self.start_ns

    def voltage_at(self, t_ns: int) -> float | None:
        """Programmed voltage at ``t_ns``, or None outside the program."""
        if t_ns < self.start_ns:
            return None
        for (v, _), end in zip(self.steps, self.boundaries_ns(), strict=True):
            if t_ns < end:
                return v
        return None


def pilot_voltage(source_v: float, switches: dict[str, bool]) -> float:
    """Sense-point voltage for a DC source level against the EV side.

    Args:
        source_v: EVSE generator level (+12, -12 or 0 V).
        switches: EV-side switch states.

    Returns:
        Voltage between CP and PE at the sense point, V.
    """
    if switches[CP_PE_SHORT] and switches[CP_CONNECT]:
        return 0.0
    if not switches[CP_CONNECT] or switches[PE_BREAK]:
        return source_v
    load = R2_OHM
    if switches[S2_C]:
        load = load * R3_C_OHM / (load + R3_C_OHM)
    if switches[S2_D]:
        load = load * R3_D_OHM / (load + R3_D_OHM)
    if switches[DIODE_BYPASS]:
        return source_v * load / (load + R1_OHM)
    if source_v <= DIODE_V:
        return source_v  # diode blocks: no current, no drop across R1
    return DIODE_V + (source_v - DIODE_V) * load / (load + R1_OHM)


class Plant:
    """The coupled physics of the virtual bench.

    Args:
        phases: 1 or 3 (EV load and meters).
        ev_max_current_a: the EV's own current limit, A.
        tethered: with no PP resistor selected, report no PP (tethered cable) instead of an open PP.
        contactor_feedback: report the contactor's auxiliary contact to the EVSE.
        log_path: JSON-lines file receiving every plant state change (flushed per line).
        clock: the time base (default :class:`MonotonicClock`, the real one).
    """

    def __init__(
        self,
        *,
        phases: int = 1,
        ev_max_current_a: float = 32.0,
        tethered: bool = True,
        contactor_feedback: bool = True,
        log_path: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.t0_ns = self.clock.now_ns()
        self.phases = phases
        self.ev_max_current_a = ev_max_current_a
        self.tethered = tethered
        self.contactor_feedback_enabled = contactor_feedback
        # mains (AC source)
        self.ac_on = False
        self.ac_setpoint_v = NOMINAL_MAINS_V
        self.ac_frequency_hz = NOMINAL_MAINS_HZ
        self.ac_current_limit_a = 80.0
        self.program: ListProgram | None = None
        self.program_trigger_ns: int | None = None
        # EVSE outputs
        self.cp_mode = "+12V"
        self.duty_pct: float | None = None
        self.contactor = False
        self.contactor_command = False  # what the EVSE commands; the physical state also needs coil power
        self.contactor_stuck: bool | None = None  # welded (True) / never closes (False)
        self.pwm_since_ns = self.t0_ns
        # EV side
        self.switches: dict[str, bool] = dict.fromkeys(SWITCHES, False)
        self.temperature_c = 25.0
        # meters
        self._energy_j = 0.0
        self._power_w = 0.0
        self._last_ns = self.t0_ns
        self.edges: list[PlantEdge] = []
        self.signal_states: list[SignalState] = []
        self.capture_seq = 0
        self._last_cp_state: str | None = None
        self._listeners: list[Callable[[Plant], None]] = []
        self._log: TextIO | None = log_path.open("a", encoding="utf-8") if log_path else None
        self._last_logged: dict[str, Any] = {}
        self._recompute(self.t0_ns)
        self._record_signals(self.t0_ns)

    # ---- clock -------------------------------------------------------------------------------------------
    def now_ns(self) -> int:
        """Get the plant clock, ns."""
        return self.clock.now_ns()

    def board_ms(self, t_ns: int | None = None) -> int:
        """Plant time since the plant started, ms (uint32 wrap) — the clock of the Modbus module and CAN board."""
        t = self.now_ns() if t_ns is None else t_ns
        return ((t - self.t0_ns) // 1_000_000) & 0xFFFFFFFF

    # ---- listeners and log -------------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[Plant], None]) -> None:
        """Call ``fn(plant)`` after every state change."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Plant], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def close(self) -> None:
        """Write the last state and close the state log."""
        self._log_state(self.now_ns(), force=True)
        if self._log:
            self._log.close()
            self._log = None

    def state(self) -> dict[str, Any]:
        """Snapshot of the loggable plant state."""
        p = self.pilot()
        return {
            "ac_on": self.ac_on,
            "ac_v": round(self.mains_v(), 3),
            "ac_setpoint_v": self.ac_setpoint_v,
            "cp_mode": self.cp_mode,
            "duty_pct": self.duty_pct,
            "cp_state": p.state,
            "contactor": self.contactor,
            "switches": {k: v for k, v in self.switches.items() if v},
            "ev_current_a": round(self.ev_current_a(), 3),
        }

    def _log_state(self, t_ns: int, *, force: bool = False) -> None:
        if self._log is None:
            return
        st = self.state()
        cmp = {k: v for k, v in st.items() if k != "ev_current_a"}
        if not force and cmp == self._last_logged:
            return
        self._last_logged = cmp
        rec = {"t_s": round(t_ns / 1e9, 6), "energy_wh": round(self.energy_wh(t_ns), 6), **st}
        if force:
            rec["final"] = True
        self._log.write(json.dumps(rec) + "\n")
        self._log.flush()

    # ---- mains -------------------------------------------------------------------------------------------
    def mains_v(self, t_ns: int | None = None) -> float:
        """Get the AC source's output voltage now (0 when the output is off), V rms."""
        if not self.ac_on:
            return 0.0
        if self.program is not None:
            v = self.program.voltage_at(self.now_ns() if t_ns is None else t_ns)
            if v is not None:
                return v
        return self.ac_setpoint_v

    def set_ac_output(self, on: bool) -> None:
        """Set the AC source output on or off (off drops the contactor: its coil is fed from the mains)."""

        def apply() -> None:
            self.ac_on = bool(on)
            self._apply_contactor(self.now_ns())

        self._change(apply)

    def set_ac_voltage(self, volts: float) -> None:
        """Set the AC source voltage setpoint, V rms."""

        def apply() -> None:
            self.ac_setpoint_v = float(volts)
            self._apply_contactor(self.now_ns())

        self._change(apply)

    def set_ac_frequency(self, hertz: float) -> None:
        """Set the AC source frequency, Hz."""
        self._change(lambda: setattr(self, "ac_frequency_hz", float(hertz)))

    def set_ac_current_limit(self, amps: float) -> None:
        """Set the AC source current limit, A."""
        self._change(lambda: setattr(self, "ac_current_limit_a", float(amps)))

    def run_program(self, steps: Sequence[tuple[float, float]]) -> int:
        """Start a list program now; its segment boundaries are calls on the plant clock (on the real clock: inside
        the running asyncio loop).

        Args:
            steps: (voltage V, dwell s) segments; afterwards the output returns to the setpoint.

        Returns:
            Trigger time on the plant clock, ns.
        """
        self.cancel_program()
        start = self.now_ns()
        prog = ListProgram([(float(v), float(d)) for v, d in steps], start)
        for boundary in prog.boundaries_ns():
            prog.handles.append(self.clock.call_at(boundary, functools.partial(self._program_boundary, boundary)))
        self._update(start)
        self.program = prog
        self.program_trigger_ns = start
        self._after_change(start)
        return start

    def cancel_program(self) -> None:
        """Stop a running list program (back to the setpoint)."""
        if self.program is None:
            return
        for h in self.program.handles:
            h.cancel()
        self._change(lambda: setattr(self, "program", None))

    def _program_boundary(self, t_ns: int) -> None:
        if self.program is None:
            return
        self._update(t_ns)  # integrate the old segment exactly up to its end
        if t_ns >= self.program.end_ns:
            self.program = None
        self._after_change(t_ns)

    # ---- EVSE outputs ------------------------------------------------------------------------------------
    def set_evse_outputs(self, cp_mode: str, duty_pct: float | None, contactor: bool, t_ns: int | None = None) -> None:
        """Apply the EVSE's hardware-port outputs at ``t_ns`` (the EVSE's own timestamp mapped to the plant clock)."""
        t = self.now_ns() if t_ns is None else max(int(t_ns), self._last_ns)
        self._update(t)
        was_pwm = self.cp_mode == "pwm"
        now_pwm = cp_mode == "pwm"
        if now_pwm != was_pwm:
            self._edge("PWM_ON" if now_pwm else "PWM_OFF", t, int(now_pwm))
            if now_pwm:
                self.pwm_since_ns = t
        self.cp_mode = cp_mode
        self.duty_pct = duty_pct if now_pwm else None
        self.contactor_command = contactor
        self._apply_contactor(t)
        self._after_change(t)

    def _coil_powered(self) -> bool:
        """The contactor coil is fed from the mains: no supply (output off or power loss), no hold."""
        return self.ac_on and self.ac_setpoint_v >= COIL_DROPOUT_V

    def _apply_contactor(self, t_ns: int) -> None:
        """Physical contactor = the EVSE's command while the coil is powered (or the stuck state)."""
        if self.contactor_stuck is not None:
            physical = self.contactor_stuck
        else:
            physical = self.contactor_command and self._coil_powered()
        if physical != self.contactor:
            self._edge("CONTACTOR_CLOSED" if physical else "CONTACTOR_OPEN", t_ns, int(physical))
            self.contactor = physical

    # ---- EV side -----------------------------------------------------------------------------------------
    def set_switch(self, name: str, closed: bool) -> None:
        """Set one EV-side switch (wiring channel name, docs/bench-protocols.md §3)."""
        self.set_switches({name: closed})

    def set_switches(self, states: dict[str, bool]) -> None:
        """Set several EV-side switches at one instant."""
        for name in states:
            if name not in self.switches:
                raise KeyError(f"unknown plant switch {name!r}; known: {', '.join(SWITCHES)}")
        self._change(lambda: self.switches.update({k: bool(v) for k, v in states.items()}))

    def set_ev_max_current(self, amps: float) -> None:
        """Set the EV's own current limit, A."""
        self._change(lambda: setattr(self, "ev_max_current_a", float(amps)))

    def set_temperature(self, celsius: float) -> None:
        """Set the EVSE's temperature, °C."""
        self._change(lambda: setattr(self, "temperature_c", float(celsius)))

    def set_contactor_stuck(self, stuck: bool | None) -> None:
        """Simulate a welded (True) or dead (False) contactor; None = follows the EVSE."""

        def apply() -> None:
            self.contactor_stuck = stuck
            if stuck is not None and stuck != self.contactor:
                self._edge("CONTACTOR_CLOSED" if stuck else "CONTACTOR_OPEN", self.now_ns(), int(stuck))
                self.contactor = stuck

        self._change(apply)

    def pp_ohm(self) -> float | None:
        """PP-PE resistance (smallest closed coding resistor; None = tethered/no PP, 1 MΩ = open PP)."""
        closed = [ohm for name, ohm in PP_OHM.items() if self.switches[name]]
        if closed:
            return min(closed)
        return None if self.tethered else 1e6

    def residual_ma(self) -> tuple[float, float]:
        """Injected residual current (AC mA, DC mA)."""
        return (30.0 if self.switches[RCD_AC_30MA] else 0.0, 6.0 if self.switches[RCD_DC_6MA] else 0.0)

    # ---- derived quantities ------------------------------------------------------------------------------
    def pilot(self) -> PilotLevels:
        """The pilot at the sense point now."""
        sw = self.switches
        if self.cp_mode == "pwm" and self.duty_pct is not None:
            hi = pilot_voltage(SOURCE_V, sw)
            lo = pilot_voltage(-SOURCE_V, sw)
            return PilotLevels(hi, lo, True, self.duty_pct, PWM_HZ, classify_cp(hi) or "?")
        src = {"+12V": SOURCE_V, "-12V": -SOURCE_V}.get(self.cp_mode, 0.0)
        v = pilot_voltage(src, sw)
        return PilotLevels(v, v, False, 100.0 if v > 0.5 else 0.0, 0.0, classify_cp(v) or "?")

    def ev_in_demand(self) -> bool:
        """True when the EV closes S2 on an intact pilot loop (state C or D)."""
        sw = self.switches
        return sw[CP_CONNECT] and not sw[PE_BREAK] and not sw[CP_PE_SHORT] and (sw[S2_C] or sw[S2_D])

    def ev_current_a(self, t_ns: int | None = None) -> float:
        """Current per phase the EV draws, A."""
        v = self.mains_v(t_ns)
        if not (self.contactor and v > 0 and self.ev_in_demand() and self.cp_mode == "pwm" and self.duty_pct):
            return 0.0
        offered = duty_to_current(min(max(self.duty_pct, 0.0), 100.0))  # a duty beyond 0..100 % offers nothing
        return max(0.0, min(offered, self.ev_max_current_a, self.ac_current_limit_a))

    def power_w(self) -> float:
        """Total active power to the EV now, W (unity power factor)."""
        return self._power_w

    def energy_wh(self, t_ns: int | None = None) -> float:
        """Imported energy since the plant started, Wh (exact piecewise-constant integral)."""
        t = self.now_ns() if t_ns is None else t_ns
        return (self._energy_j + self._power_w * max(0, t - self._last_ns) / 1e9) / 3600.0

    def evse_inputs(self) -> dict[str, Any]:
        """The EVSE hardware-port ``inputs`` fields for the present plant state."""
        p = self.pilot()
        ac, dc = self.residual_ma()
        return {
            "cp_high_v": round(p.high_v, 3),
            "cp_low_v": round(p.low_v, 3) if p.pwm else None,
            "pp_ohm": self.pp_ohm(),
            "mains_v": round(self.mains_v(), 3),
            "mains_hz": self.ac_frequency_hz if self.ac_on else 0.0,
            "residual_ma_ac": ac,
            "residual_ma_dc": dc,
            "contactor_feedback": self.contactor if self.contactor_feedback_enabled else None,
            "temperature_c": self.temperature_c,
            "meter_energy_mwh": round(self.energy_wh() * 1000.0, 1),
            "meter_power_mw": round(self._power_w * 1000.0, 1),
        }

    def edges_after(self, t_ns: int) -> list[PlantEdge]:
        """Edges strictly after ``t_ns``, oldest first."""
        i = bisect.bisect_right([e.t_ns for e in self.edges], t_ns)
        return self.edges[i:]

    def signal_history(self, since_ns: int) -> list[SignalState]:
        """The signal states from ``since_ns`` on, oldest first: the one in force at ``since_ns`` (the oldest kept
        if ``since_ns`` is earlier) and every later one."""
        i = bisect.bisect_right(self.signal_states, since_ns, key=lambda s: s.t_ns)
        return self.signal_states[max(0, i - 1) :]

    def restart_signal_history(self) -> None:
        """Record the present state as the state since the plant started (after attributes were set directly,
        before anything ran)."""
        self.signal_states.clear()
        self._record_signals(self.t0_ns)

    # ---- internals ---------------------------------------------------------------------------------------
    def _edge(self, signal: str, t_ns: int, level: int) -> None:
        edge = PlantEdge(signal, t_ns, level)
        bisect.insort(self.edges, edge, key=lambda e: e.t_ns)
        if len(self.edges) > MAX_EDGES:
            del self.edges[: len(self.edges) - MAX_EDGES]

    def _update(self, t_ns: int) -> None:
        """Integrate energy up to ``t_ns`` with the power that held since the last update."""
        if t_ns > self._last_ns:
            self._energy_j += self._power_w * (t_ns - self._last_ns) / 1e9
            self._last_ns = t_ns

    def _change(self, apply: Callable[[], None]) -> None:
        t = self.now_ns()
        self._update(t)
        apply()
        self._after_change(t)

    def _recompute(self, t_ns: int) -> None:
        self._power_w = self.ev_current_a(t_ns) * self.mains_v(t_ns) * self.phases
        state = self.pilot().state
        if state != self._last_cp_state:
            if self._last_cp_state is not None:
                level = CP_STATES.index(state) if state in CP_STATES else CP_STATE_INVALID
                self._edge("CP_STATE", t_ns, level)
            self._last_cp_state = state
        self.capture_seq = (self.capture_seq + 1) & 0xFFFF

    def _record_signals(self, t_ns: int) -> None:
        """Append the probed signals' state from ``t_ns`` on (never before the last one; unchanged: nothing)."""
        last = self.signal_states[-1] if self.signal_states else None
        t = t_ns if last is None else max(t_ns, last.t_ns)
        on_hz = self.ac_frequency_hz if self.ac_on else 0.0
        state = SignalState(
            t, self.pilot(), self.pwm_since_ns, self.contactor, self.mains_v(t), on_hz, self.residual_ma()
        )
        if last is not None and dataclasses.replace(state, t_ns=last.t_ns) == last:
            return
        self.signal_states.append(state)
        if len(self.signal_states) > MAX_SIGNAL_STATES:
            del self.signal_states[: len(self.signal_states) - MAX_SIGNAL_STATES]

    def _after_change(self, t_ns: int) -> None:
        self._recompute(t_ns)
        self._record_signals(t_ns)
        self._log_state(t_ns)
        for fn in list(self._listeners):
            fn(self)
