"""Capabilities: what suites and the EV emulator may ask of an instrument role (labgrid's protocol classes).

A suite or the EV emulator depends on these only, never on a driver or a transport. Every driver implements
``Instrument`` plus one or more capabilities; ``safe_state()`` always exists and never raises for a reachable
instrument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class Identity:
    """What an instrument says it is (``*IDN?`` or identity registers), recorded in the report."""

    vendor: str
    model: str
    serial: str = ""
    firmware: str = ""

    def __str__(self) -> str:
        return ", ".join(p for p in (self.vendor, self.model, self.serial, self.firmware) if p)


@runtime_checkable
class Instrument(Protocol):
    """Every driver."""

    role: str

    def identity(self) -> Identity:
        """Get the instrument's identity."""
        ...

    def safe_state(self) -> None:
        """Put the instrument in its safe state (output off, relays open, injection off)."""
        ...

    def close(self) -> None:
        """Release the transport."""
        ...


@dataclass(frozen=True)
class ProgramStep:
    """One segment of an AC source list program: hold ``voltage`` (V rms) for ``dwell_s`` seconds."""

    voltage: float
    dwell_s: float
    frequency: float | None = None


@runtime_checkable
class AcSource(Instrument, Protocol):
    """Programmable AC source / grid emulator feeding the EVSE's mains input."""

    def set_output(self, on: bool) -> None:
        """Set the output relay on or off."""
        ...

    def output_on(self) -> bool:
        """Get whether the output is on."""
        ...

    def set_voltage(self, volts: float) -> None:
        """Set the output voltage, V rms (0..300)."""
        ...

    def set_frequency(self, hertz: float) -> None:
        """Set the output frequency, Hz (45..65)."""
        ...

    def set_current_limit(self, amps: float) -> None:
        """Set the output current limit, A."""
        ...

    def measure_voltage(self) -> float:
        """Measure the output voltage, V rms."""
        ...

    def measure_current(self) -> float:
        """Measure the output current, A rms."""
        ...

    def measure_power(self) -> float:
        """Measure the output active power, W."""
        ...

    def measure_frequency(self) -> float:
        """Measure the output frequency, Hz."""
        ...

    def run_program(self, steps: Sequence[ProgramStep]) -> None:
        """Start a list program once (return once the source runs it); then it goes back to the setpoint.

        No source reports when its program started: a timed case sees the transient on the scope (the output or the
        source's trigger-out on a scope channel). A model without a list program raises
        :class:`rig.errors.Unsupported` naming the role and the model.
        """
        ...


@runtime_checkable
class EnergyMeter(Instrument, Protocol):
    """Energy meter or power analyser measuring what flows to the EV."""

    phases: int

    def voltage(self, phase: int = 1) -> float:
        """Measure the line-to-neutral voltage of ``phase``, V rms."""
        ...

    def current(self, phase: int = 1) -> float:
        """Measure the current of ``phase``, A rms."""
        ...

    def active_power(self, phase: int | None = None) -> float:
        """Measure active power, W: of ``phase``, or the total when None."""
        ...

    def energy_import_wh(self) -> float:
        """Measure the imported active energy, Wh (cumulative)."""
        ...


@dataclass(frozen=True)
class PilotReading:
    """One measurement of the control pilot at the EV side (frequency 0 and equal levels: no PWM)."""

    frequency_hz: float
    duty_pct: float
    high_v: float
    low_v: float
    t_s: float = 0.0  # the instrument's own timestamp when it has one (LabJack CORE_TIMER), else 0


@runtime_checkable
class RelayIo(Instrument, Protocol):
    """Relay outputs switching the EV emulator's resistor network (relay module, DAQ actuator module).

    ``relay_count`` is how many relays the role's configuration gives it (channel numbers 1..relay_count).
    """

    relay_count: int

    def set_relay(self, channel: int, closed: bool) -> None:
        """Set relay ``channel`` (1-based) closed or open."""
        ...

    def relay(self, channel: int) -> bool:
        """Get whether relay ``channel`` is closed."""
        ...

    def open_all(self) -> None:
        """Open every relay."""
        ...


@runtime_checkable
class PilotMeter(Protocol):
    """Pilot frequency, duty and levels, measured now (a scope's measurement queries, a LabJack's pulse width in
    and analog inputs, the EV emulator board). Nothing here is timed: reaction times come from scope captures."""

    def pilot(self) -> PilotReading:
        """Measure the pilot: frequency, duty, high and low level (no PWM: frequency 0, duty 0 or 100)."""
        ...


@dataclass
class EvBoardCommand:
    """What the CAN EV emulator board is told to apply (see docs/bench-protocols.md section 4)."""

    cp_state: str = "A"  # A B C D E F
    diode_bypass: bool = False
    pe_break: bool = False
    rcd_ac_30ma: bool = False
    rcd_dc_6ma: bool = False
    pp_amps: int | None = None  # 13 20 32 63, None = no cable
    ev_max_current_a: float = 32.0
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class EvEmulatorBoard(Instrument, PilotMeter, Protocol):
    """A self-contained EV emulator board (CAN) applying CP/PP states and faults itself."""

    def apply(self, command: EvBoardCommand) -> None:
        """Apply a complete command and wait for the board's acknowledgement."""
        ...

    def ev_current(self) -> float:
        """Measure the current the emulated EV draws, A."""
        ...


@dataclass(frozen=True)
class SignalSetup:
    """Vertical set-up of one signal a scope captures; ``signal`` is a name of the scope role's channel map.

    ``scale_v_div`` is at the probe tip (the driver sends the probe attenuation from the role's params first);
    ``offset_v`` goes to the instrument's own channel offset unchanged (InfiniiVision: the voltage at the screen
    centre).
    """

    signal: str
    scale_v_div: float
    offset_v: float = 0.0


@dataclass(frozen=True)
class TriggerSetup:
    """Edge trigger of a single-shot capture on one mapped signal."""

    signal: str
    level_v: float
    slope: str = "rising"  # rising | falling
    sweep: str = "normal"  # normal: only a real edge triggers | auto: the scope triggers by itself after a while


@dataclass(frozen=True)
class CaptureSetup:
    """A single-shot capture: the signals shown, the timebase and the trigger.

    The record length and sample rate are the scope's (set by its role's params and its own rules): read them back
    from the :class:`Trace` (``points``, ``sample_interval_s``).
    """

    signals: tuple[SignalSetup, ...]
    time_scale_s_div: float
    trigger: TriggerSetup
    time_position_s: float = 0.0  # from the trigger to the screen reference, s


@dataclass(frozen=True, eq=False)
class Trace:
    """One captured signal in physical units, decoded with the instrument's preamble.

    Attributes:
        signal: the channel-map name.
        t_s: sample times relative to the trigger, s.
        volts: samples at the probe tip, V; NaN where the scope reports no data.
        preamble: the instrument's preamble text the samples were decoded with.
    """

    signal: str
    t_s: npt.NDArray[np.float64]
    volts: npt.NDArray[np.float64]
    preamble: str

    @property
    def points(self) -> int:
        """Get the number of samples."""
        return int(self.volts.size)

    @property
    def sample_interval_s(self) -> float:
        """Get the time between samples, s (0 for fewer than two samples)."""
        return float(self.t_s[1] - self.t_s[0]) if self.t_s.size > 1 else 0.0


@runtime_checkable
class WaveformCapture(Instrument, Protocol):
    """Oscilloscope: single-shot captures of named signals, their samples and the scope's own measurements.

    A capture is ``configure`` (errors the scope queued raise), ``arm``, optionally ``wait_triggered`` (then cause
    what is to be seen), ``wait_complete``, then ``read_raw`` / ``read_trace`` and the ``measure_*`` queries for any
    configured signal.
    """

    def signals(self) -> tuple[str, ...]:
        """Get the signal names of the role's channel map."""
        ...

    def configure(self, setup: CaptureSetup) -> None:
        """Set up channels, timebase, acquisition, trigger and transfer; raise InstrumentError for queued errors."""
        ...

    def arm(self) -> None:
        """Control: arm one single-shot acquisition."""
        ...

    def wait_triggered(self, timeout_s: float) -> None:
        """Wait until the armed acquisition has triggered (it goes on filling its post-trigger part). Raises
        InstrumentError naming role, address and the status command after ``timeout_s``."""
        ...

    def wait_complete(self, timeout_s: float) -> bool:
        """Wait until the armed acquisition is complete; return whether a trigger event (not an auto trigger)
        started it. Raises InstrumentError naming role, address and the status command after ``timeout_s``."""
        ...

    def read_raw(self, signal: str) -> tuple[str, npt.NDArray[Any]]:
        """Get the preamble text and the raw sample codes of ``signal`` from the last acquisition."""
        ...

    def read_trace(self, signal: str) -> Trace:
        """Get ``signal`` from the last acquisition as times (s) and volts."""
        ...

    def measure_duty_pct(self, signal: str) -> float:
        """Measure the positive duty cycle of ``signal`` on the last acquisition, % (0..100)."""
        ...

    def measure_frequency_hz(self, signal: str) -> float:
        """Measure the frequency of ``signal`` on the last acquisition, Hz."""
        ...

    def measure_top_v(self, signal: str) -> float:
        """Measure the top level (histogram, overshoot excluded) of ``signal``, V."""
        ...

    def measure_base_v(self, signal: str) -> float:
        """Measure the base level (histogram, undershoot excluded) of ``signal``, V."""
        ...
