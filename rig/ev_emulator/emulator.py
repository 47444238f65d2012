"""The IEC 61851-1 EV emulator on top of bench instrument roles.

Two bodies, one API:

* a **relay network** (a ``RelayIo`` role: a relay module or a DAQ970A actuator module) switching the EV-side
  resistors and fault paths, mapped by ``ev_emulator.wiring`` (channel name -> relay number), with the pilot measured
  by a ``PilotMeter`` role (``ev_emulator.pilot``: the oscilloscope, or a LabJack T7);
* a self-contained **EV emulator board** (``EvEmulatorBoard``, CAN) told the complete wanted state each time; it
  measures the pilot itself.

Nothing here is timed: reaction times come from oscilloscope captures (:mod:`rig.bench.timing`).

Relay combinations per state (``cp_connect`` connects the EV-side network, diode D1 + R2 2.74 kOhm, to CP):

====== ============ ====== ====== ============ =====================================
state  cp_connect   s2_c   s2_d   cp_pe_short  meaning
====== ============ ====== ====== ============ =====================================
A      open         open   open   open         not connected (+12 V)
B      closed       open   open   open         connected, S2 open (+9 V)
C      closed       closed open   open         S2 with 1.3 kOhm: ready to charge (+6 V)
D      closed       open   closed open         S2 with 270 Ohm: ventilation required (+3 V)
E      closed       open   open   closed       CP shorted to PE (0 V)
====== ============ ====== ====== ============ =====================================

State F (-12 V) is produced by the EVSE when it is unavailable; an EV cannot apply it, so ``set_state("F")`` is
refused; check for it with ``pilot().state == "F"``. Relays are switched break-before-make (openings first), so
C -> D passes through B, never through S2 with both resistors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rig.errors import ConfigError
from rig.ev_emulator.channels import (
    CABLE_CHANNELS,
    CP_CHANNELS,
    DIODE_BYPASS,
    PE_BREAK,
    RCD_AC_30MA,
    RCD_DC_6MA,
    STATE_CHANNELS,
)
from rig.ev_emulator.model import EvModel
from rig.ev_emulator.pilot import PilotClass, classify, duty_to_current
from rig.instruments.capabilities import EvBoardCommand, EvEmulatorBoard, PilotMeter, PilotReading, RelayIo

EV_STATES = tuple(STATE_CHANNELS)
"""States the EV side can apply."""

STATE_RELAYS = STATE_CHANNELS
"""Closed CP relays per state (every other CP relay open); the channels are :mod:`rig.ev_emulator.channels`'."""

PWM_MIN_PCT = 0.5
PWM_MAX_PCT = 99.5


@dataclass(frozen=True)
class PilotStatus:
    """A pilot capture and its IEC classification.

    Attributes:
        reading: what the capture measured (instrument clock in ``reading.t_s``).
        classified: state, PWM on/off, diode fault.
        offered_a: the current the duty cycle offers, A (0 without PWM).
    """

    reading: PilotReading
    classified: PilotClass
    offered_a: float

    @property
    def state(self) -> str:
        """Get the IEC state A..F or ``invalid``."""
        return self.classified.state

    @property
    def pwm_on(self) -> bool:
        """Get whether the EVSE oscillates."""
        return self.classified.pwm_on

    @property
    def diode_fault(self) -> bool:
        """Get whether the negative level shows a shorted EV diode."""
        return self.classified.diode_fault


class EvEmulator:
    """IEC 61851-1 EV emulator: CP states, PP cable coding, fault injection, pilot measurement.

    Args:
        instrument: an ``EvEmulatorBoard``, or a ``RelayIo`` instrument.
        pilot: the ``PilotMeter`` measuring the pilot; required with relays (a board measures it itself).
        wiring: channel name -> relay number (1-based); required for a relay instrument, unused for a board.
        ev_max_current_a: the emulated EV's own current limit, A.
        phases: phases the emulated EV charges on.
        role: the bench role (for messages).
    """

    def __init__(
        self,
        instrument: object,
        *,
        pilot: object = None,
        wiring: Mapping[str, int] | None = None,
        ev_max_current_a: float = 32.0,
        phases: int = 1,
        role: str = "ev_emulator",
    ) -> None:
        self.role = role
        self.model = EvModel(ev_max_current_a, phases)
        self._board: EvEmulatorBoard | None = None
        self._relays: RelayIo | None = None
        if pilot is not None and not isinstance(pilot, PilotMeter):
            raise ConfigError(f"ev_emulator.pilot: {type(pilot).__name__} cannot measure the pilot (no PilotMeter)")
        if isinstance(instrument, EvEmulatorBoard):
            self._board = instrument
            self._meter: PilotMeter = pilot if pilot is not None else instrument
        elif isinstance(instrument, RelayIo):
            if not wiring:
                raise ConfigError(
                    f"ev_emulator.wiring: role {role!r} is a relay instrument; map the channels to relay numbers"
                )
            if pilot is None:
                raise ConfigError(
                    f"ev_emulator.pilot: role {role!r} switches relays only; name the role measuring the pilot "
                    "(the oscilloscope or a LabJack T7)"
                )
            self._relays = instrument
            self._meter = pilot
            beyond = {ch: n for ch, n in (wiring or {}).items() if not 1 <= n <= instrument.relay_count}
            if beyond:
                raise ConfigError(
                    f"ev_emulator.wiring: {', '.join(f'{c}: {n}' for c, n in beyond.items())} beyond the "
                    f"{instrument.relay_count} relays of role {role!r} (1..{instrument.relay_count})"
                )
        else:
            raise ConfigError(
                f"ev_emulator.via: role {role!r} ({type(instrument).__name__}) offers neither RelayIo nor "
                "EvEmulatorBoard"
            )
        self._wiring = dict(wiring or {})
        self._command = EvBoardCommand(ev_max_current_a=ev_max_current_a)

    # ------------------------------------------------------------------------------------------ properties
    @property
    def state(self) -> str:
        """Get the CP state last applied (A..E)."""
        return self._command.cp_state

    @property
    def cable_a(self) -> int | None:
        """Get the cable rating last applied, A (None = no cable)."""
        return self._command.pp_amps

    @property
    def meter(self) -> PilotMeter:
        """Get the instrument measuring the pilot."""
        return self._meter

    @property
    def relays(self) -> RelayIo | None:
        """Get the relay instrument (None on an EV emulator board)."""
        return self._relays

    @property
    def wiring(self) -> dict[str, int]:
        """Get the channel -> relay number map (empty on a board)."""
        return dict(self._wiring)

    # ---------------------------------------------------------------------------------------------- actions
    def set_state(self, state: str) -> None:
        """Set the EV's CP state: A (unplugged), B (connected), C (charge), D (charge, ventilation), E (CP-PE short).

        Raises:
            ValueError: ``F`` (only an EVSE drives -12 V) or an unknown state.
            ConfigError: the state needs a channel that is not wired.
        """
        state = state.upper()
        if state == "F":
            raise ValueError(
                "state F (-12 V) is driven by the EVSE when it is unavailable; an EV cannot apply it. "
                "Check for it with pilot().state == 'F'"
            )
        if state not in STATE_RELAYS:
            raise ValueError(f"unknown CP state {state!r}; the EV can apply {', '.join(EV_STATES)}")
        self._command.cp_state = state
        if self._relays is not None:
            closed = STATE_RELAYS[state]
            self._switch({ch: ch in closed for ch in CP_CHANNELS}, why=f"state {state}")
        else:
            self._apply()

    def diode_fault(self, on: bool) -> None:
        """Set the EV diode shorted (``on``) or healthy."""
        self._command.diode_bypass = on
        self._fault(DIODE_BYPASS, on)

    def pe_break(self, on: bool) -> None:
        """Set the protective earth to the EV interrupted (``on``) or connected."""
        self._command.pe_break = on
        self._fault(PE_BREAK, on)

    def residual_current(self, *, ac_30ma: bool = False, dc_6ma: bool = False) -> None:
        """Set the residual current injection: 30 mA AC and/or 6 mA smooth DC (both off by default)."""
        self._command.rcd_ac_30ma = ac_30ma
        self._command.rcd_dc_6ma = dc_6ma
        if self._relays is not None:
            self._switch({RCD_AC_30MA: ac_30ma, RCD_DC_6MA: dc_6ma}, why="residual current")
        else:
            self._apply()

    def set_cable(self, amps: int | None) -> None:
        """Set the PP cable coding: 13, 20, 32 or 63 A, or None for no cable (at most one PP relay closed).

        Raises:
            ValueError: another rating.
        """
        if amps is not None and amps not in CABLE_CHANNELS:
            raise ValueError(f"no PP coding for a {amps} A cable; choose 13, 20, 32, 63 or None (no cable)")
        self._command.pp_amps = amps
        if self._relays is not None:
            wanted = CABLE_CHANNELS.get(amps) if amps is not None else None
            self._switch({ch: ch == wanted for ch in CABLE_CHANNELS.values()}, why=f"cable {amps} A")
        else:
            self._apply()

    def release_all(self) -> None:
        """Put the emulator in its safe state: A, every fault path released and no cable (all relays open).

        The cable is released too: the safe state is "nothing plugged in", which is also what an unpowered relay
        module or board falls back to, so a later run never starts from a half-plugged vehicle.
        """
        self._command = EvBoardCommand(ev_max_current_a=self.model.max_current_a)
        if self._relays is not None:
            self._switch(dict.fromkeys(self._wiring, False), why="release all")
        else:
            self._apply()

    # ----------------------------------------------------------------------------------------- measurements
    def pilot(self) -> PilotStatus:
        """Measure the pilot and classify it (state, PWM, diode fault, offered current)."""
        reading = self._meter.pilot()
        pwm_on = reading.frequency_hz > 0 and PWM_MIN_PCT < reading.duty_pct < PWM_MAX_PCT
        low = reading.low_v if pwm_on else reading.high_v
        classified = classify(reading.high_v, low, pwm_on)
        offered = duty_to_current(reading.duty_pct) if pwm_on else 0.0
        return PilotStatus(reading, classified, offered)

    def demand_a(self, status: PilotStatus | None = None) -> float:
        """Return the current the emulated EV would draw now, A (its limit vs. what the pilot offers)."""
        status = status or self.pilot()
        return self.model.current(self.state, status.reading.duty_pct, status.pwm_on)

    # ---------------------------------------------------------------------------------------------- helpers
    def _fault(self, channel: str, on: bool) -> None:
        if self._relays is not None:
            self._switch({channel: on}, why=channel)
        else:
            self._apply()

    def _apply(self) -> None:
        assert self._board is not None
        self._board.apply(self._command)

    def _switch(self, wanted: Mapping[str, bool], *, why: str) -> None:
        """Drive relays to ``wanted`` (channel -> closed), openings first (break before make)."""
        assert self._relays is not None
        missing = [ch for ch, closed in wanted.items() if closed and ch not in self._wiring]
        if missing:
            raise ConfigError(
                f"ev_emulator.wiring: {why} needs channel {', '.join(missing)}, which is not wired; add it "
                "(channel: relay number) to rig.yaml"
            )
        for closed in (False, True):
            for channel, want in wanted.items():
                if want == closed and channel in self._wiring:
                    self._relays.set_relay(self._wiring[channel], closed)
