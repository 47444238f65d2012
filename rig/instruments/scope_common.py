"""What the oscilloscope drivers share: the channel map of the role's params, the ``*IDN?`` model check, draining
the error queue after a configuration, the preamble, and refusals naming role, instrument and command.

Params every scope driver takes (rig.yaml ``instruments.<role>.params``); the vendor drivers add their own::

    channels:                  # signal name -> scope input and probe attenuation, both required
      cp: {channel: 1, probe: 10}
      contactor: {channel: 2, probe: 100}
    channel_count: 4           # analog inputs of the model; channel numbers are checked against it
    poll_s: 0.01               # interval between status polls while waiting for an acquisition, s
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from rig.errors import ConfigError, InstrumentError, InstrumentFault
from rig.instruments.capabilities import (
    CaptureSetup,
    Identity,
    PilotReading,
    SignalSetup,
    Trace,
    TriggerSetup,
)
from rig.instruments.driver_base import ScpiDriver
from rig.instruments.transport import BlockTransport, MessageTransport

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

NOT_MEASURABLE = 9.9e37
PILOT_SIGNAL = "cp"
"""The channel-map signal :meth:`ScopeDriver.pilot` measures."""
PILOT_SETUP = CaptureSetup(
    signals=(SignalSetup(PILOT_SIGNAL, 5.0),),
    time_scale_s_div=1e-3,
    trigger=TriggerSetup(PILOT_SIGNAL, 0.0, "rising", "auto"),
)
"""The pilot measurement's capture: +-20 V on screen, ten 1 kHz periods, trigger on the rising crossing of 0 V (a
running PWM is caught in phase; a flat pilot never crosses it, so the scope triggers by itself)."""
PILOT_MIN_SWING_V = 2.0
"""Less swing than this between the top and base levels is a flat pilot (no PWM), V."""
PILOT_TIMEOUT_S = 5.0
"""How long one pilot capture may take, s."""
"""What both vendors answer a measurement query with when the waveform on screen does not allow it."""

SLOPES = ("rising", "falling")
SWEEPS = ("normal", "auto")


@dataclass(frozen=True)
class ScopeChannel:
    """Where one named signal is connected: the scope input (1-based) and the probe's attenuation ratio."""

    number: int
    probe: float


class Preamble(NamedTuple):
    """The ten comma-separated preamble fields, in the order both vendors send them."""

    format_code: int
    type_code: int
    points: int
    average_count: int
    x_increment: float
    x_origin: float
    x_reference: float
    y_increment: float
    y_origin: float
    y_reference: float


def parse_channel_map(role: str, driver: str, channels: object, channel_count: int) -> dict[str, ScopeChannel]:
    """Read ``params.channels`` (signal -> ``{channel, probe}``); ConfigError names the rig.yaml path and the driver."""
    path = f"instruments.{role}.params.channels"
    where = f"role {role!r} ({driver})"
    if channels is None:
        return {}
    if not isinstance(channels, Mapping):
        raise ConfigError(f"{where}: {path} must map signal names to {{channel, probe}}, got {channels!r}")
    result: dict[str, ScopeChannel] = {}
    for name, entry in channels.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: {path}.{name} must be {{channel: <n>, probe: <ratio>}}, got {entry!r}")
        unknown = sorted(set(entry) - {"channel", "probe"})
        if unknown:
            raise ConfigError(f"{where}: {path}.{name} has unknown keys {unknown}; valid: channel, probe")
        for key in ("channel", "probe"):
            if key not in entry:
                raise ConfigError(
                    f"{where}: {path}.{name}.{key} is missing (the channel number and the probe attenuation are "
                    "bench facts the driver never guesses)"
                )
        number, probe = entry["channel"], entry["probe"]
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= channel_count:
            raise ConfigError(f"{where}: {path}.{name}.channel must be 1..{channel_count}, got {number!r}")
        if isinstance(probe, bool) or not isinstance(probe, int | float) or not math.isfinite(probe) or probe <= 0:
            raise ConfigError(f"{where}: {path}.{name}.probe must be a positive attenuation ratio, got {probe!r}")
        result[str(name)] = ScopeChannel(number, float(probe))
    taken: dict[int, str] = {}
    for name, ch in result.items():
        if ch.number in taken:
            raise ConfigError(f"{where}: {path}: {taken[ch.number]!r} and {name!r} are both on channel {ch.number}")
        taken[ch.number] = name
    return result


class ScopeDriver(ScpiDriver):
    """Base of the oscilloscope drivers: params, model check at open, error drain, refusals, measurements."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("WaveformCapture", "PilotMeter")
    DRIVER: ClassVar[str] = ""
    """The registry name (in messages)."""
    VENDORS: ClassVar[tuple[str, ...]] = ()
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(regular expression matching the ``*IDN?`` model field, what it stands for) per accepted family."""
    ERROR_QUERY: ClassVar[str] = ""

    def __init__(
        self,
        role: str,
        transport: MessageTransport,
        *,
        channels: object = None,
        channel_count: int = 4,
        poll_s: float = 0.01,
    ) -> None:
        super().__init__(role, transport)
        self._configured: CaptureSetup | None = None
        if isinstance(channel_count, bool) or channel_count not in (1, 2, 4):
            raise ConfigError(
                f"role {role!r} ({self.DRIVER}): instruments.{role}.params.channel_count must be 1, 2 or 4, "
                f"got {channel_count!r}"
            )
        if not isinstance(poll_s, int | float) or not 0 <= poll_s <= 1:
            raise ConfigError(f"role {role!r} ({self.DRIVER}): instruments.{role}.params.poll_s must be 0..1 s")
        self.channel_count = channel_count
        self.channel_map = parse_channel_map(role, self.DRIVER, channels, channel_count)
        self.poll_s = float(poll_s)
        self.model = ""

    # -- open, identity, safe state ------------------------------------------------------------------------------
    def open(self) -> None:
        """Control: open the transport, check ``*IDN?`` against the accepted models and clear the status (``*CLS``)."""
        super().open()
        ident = self.identity()
        if not self.accepts(ident):
            accepted = "; ".join(description for _, description in self.MODELS)
            raise InstrumentError(
                self.role,
                self.transport.address,
                f"{self.DRIVER} does not drive {ident.vendor} {ident.model!r} (from *IDN?); it accepts "
                f"{' / '.join(self.VENDORS)}: {accepted}",
                "*IDN?",
            )
        self.model = ident.model
        self._configured = None
        self.write("*CLS")

    def accepts(self, ident: Identity) -> bool:
        """Get whether ``ident`` (from ``*IDN?``) is a model of the families this driver speaks to."""
        return ident.vendor.upper() in self.VENDORS and any(
            re.fullmatch(pattern, ident.model) for pattern, _ in self.MODELS
        )

    def safe_state(self) -> None:
        """Control: nothing (a scope has no output to switch off; its set-up is left for the operator to see)."""

    def signals(self) -> tuple[str, ...]:
        """Get the signal names of the role's channel map."""
        return tuple(self.channel_map)

    # -- the capture and measurement steps each dialect implements ------------------------------------------------
    def configure(self, setup: CaptureSetup) -> None:
        """Control: set up one capture; a set-up equal to the one the scope already holds is not sent again (a scope
        keeps its set-up between single acquisitions), so repeated pilot measurements cost no reconfiguration.

        Raises:
            ValueError: a value out of range (nothing is sent); ConfigError: a signal missing from the channel map.
            InstrumentError: the scope queued an error (listed with the commands sent).
        """
        if setup == self._configured:
            return
        self._configured = None
        self._apply_setup(setup)
        self._configured = setup

    def _apply_setup(self, setup: CaptureSetup) -> None:
        """Control: send the dialect's set-up commands, then drain the error queue."""
        raise NotImplementedError

    def arm(self) -> None:
        """Control: arm one single-shot acquisition."""
        raise NotImplementedError

    def wait_complete(self, timeout_s: float) -> bool:
        """Wait until the armed acquisition is complete; return whether a trigger event started it."""
        raise NotImplementedError

    def measure_duty_pct(self, signal: str) -> float:
        """Measure the positive duty cycle of ``signal``, %."""
        raise NotImplementedError

    def measure_frequency_hz(self, signal: str) -> float:
        """Measure the frequency of ``signal``, Hz."""
        raise NotImplementedError

    def measure_top_v(self, signal: str) -> float:
        """Measure the top level of ``signal``, V."""
        raise NotImplementedError

    def measure_base_v(self, signal: str) -> float:
        """Measure the base level of ``signal``, V."""
        raise NotImplementedError

    # -- PilotMeter ----------------------------------------------------------------------------------------------
    def pilot(self) -> PilotReading:
        """Measure the pilot on the ``cp`` signal: one capture of :data:`PILOT_SETUP`, then the scope's own top and
        base level measurements and, when they are apart (a PWM), its frequency and positive duty measurements.

        A flat pilot reads frequency 0, duty 100 (above 0 V) or 0, and its level as both high and low.

        A capture in which the levels are apart but no full period can be measured straddled a change of the pilot
        (the PWM starting or stopping during it): it is taken once more.

        Raises:
            ConfigError: no ``cp`` signal in the role's channel map.
            InstrumentError: the capture did not complete, or the scope could not measure a PWM it shows twice.
        """
        self._channel(PILOT_SIGNAL, ":MEASure:VTOP? CHANnel<n>")
        for attempt in (1, 2):
            self.configure(PILOT_SETUP)
            self.arm()
            self.wait_complete(PILOT_TIMEOUT_S)
            top = self.measure_top_v(PILOT_SIGNAL)
            base = self.measure_base_v(PILOT_SIGNAL)
            if top - base < PILOT_MIN_SWING_V:
                level = (top + base) / 2.0
                return PilotReading(0.0, 100.0 if level > 0 else 0.0, level, level)
            try:
                hertz = self.measure_frequency_hz(PILOT_SIGNAL)
                duty = self.measure_duty_pct(PILOT_SIGNAL)
            except InstrumentFault:
                if attempt == 2:
                    raise
                continue  # the capture straddled a change of the pilot: take it again
            return PilotReading(hertz, duty, top, base)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- shared pieces -------------------------------------------------------------------------------------------
    def _instrument(self) -> str:
        return f"{self.DRIVER} {self.model or '(model not read yet)'} at {self.transport.address}"

    def _refusal(self, message: str, command: str) -> ValueError:
        return ValueError(f"role {self.role!r} ({self._instrument()}): {message}; not sent: {command}")

    def _checked(self, value: float, low: float, high: float, what: str, command: str) -> str:
        """Return ``value`` formatted for a command if finite and within low..high, else refuse naming ``command``."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._refusal(f"{what} must be a finite number, got {value!r}", command)
        if not low <= value <= high:
            raise self._refusal(f"{what} must be within {low:g}..{high:g}, got {value:g}", command)
        return f"{value:.6g}"

    def _channel(self, signal: str, command: str) -> ScopeChannel:
        """Return where ``signal`` is connected; ConfigError names the rig.yaml path, the instrument and ``command``."""
        try:
            return self.channel_map[signal]
        except KeyError:
            mapped = ", ".join(sorted(self.channel_map)) or "none"
            raise ConfigError(
                f"role {self.role!r} ({self._instrument()}): no channel for signal {signal!r} in rig.yaml "
                f"instruments.{self.role}.params.channels (mapped: {mapped}); not sent: {command}"
            ) from None

    def _validate(self, setup: CaptureSetup, command: str) -> None:
        """Refuse a set-up that is not one capture of mapped, distinct signals triggered by one of them."""
        names = [s.signal for s in setup.signals]
        if not names:
            raise self._refusal("a capture needs at least one signal", command)
        if len(set(names)) != len(names):
            raise self._refusal(f"signals appear twice in {names}", command)
        for name in names:
            self._channel(name, command)
        if setup.trigger.signal not in names:
            raise self._refusal(f"the trigger signal {setup.trigger.signal!r} is not among {names}", command)
        if setup.trigger.slope not in SLOPES:
            raise self._refusal(f"trigger slope must be one of {SLOPES}, got {setup.trigger.slope!r}", command)
        if setup.trigger.sweep not in SWEEPS:
            raise self._refusal(f"trigger sweep must be one of {SWEEPS}, got {setup.trigger.sweep!r}", command)

    def _measure(self, command: str) -> float:
        """Get a measurement; the 'cannot measure' answer (9.9E+37) raises InstrumentError naming ``command``."""
        value = self.query_float(command)
        if not math.isfinite(value) or abs(value) >= NOT_MEASURABLE * 0.99:
            raise self._error(
                f"the scope could not measure ({value:g}): is at least one full period of the signal on screen?"
            )
        return value

    def _block(
        self, command: str, datatype: str, is_big_endian: bool, *, expect_termination: bool = True
    ) -> npt.NDArray[Any]:
        """Get the IEEE 488.2 block answering ``command`` through the transport."""
        if not isinstance(self.transport, BlockTransport):
            raise self._error(
                f"the {type(self.transport).__name__} transport cannot read binary blocks; use the visa transport"
            )
        return self.transport.query_binary_values(
            command, datatype, is_big_endian, expect_termination=expect_termination
        )

    def _preamble(self, command: str) -> tuple[str, Preamble]:
        """Get the preamble text and its ten fields; anything else raises InstrumentError naming ``command``."""
        text = self.query(command)
        fields = [f.strip() for f in text.split(",")]
        try:
            if len(fields) != 10:
                raise ValueError(len(fields))
            ints = [int(float(fields[i])) for i in (0, 1, 2, 3)]
            floats = [float(f) for f in fields[4:]]
        except ValueError:
            raise self._error(f"expected 10 comma-separated preamble numbers, got {text[:120]!r}") from None
        return text, Preamble(*ints, *floats)

    def _wait(self, status_command: str, done: Callable[[str], bool], timeout_s: float, what: str) -> str:
        """Poll ``status_command`` until ``done(answer)``; after ``timeout_s`` raise InstrumentError naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.query(status_command)
            if done(answer):
                return answer
            if time.monotonic() >= deadline:
                raise self._error(
                    f"no acquisition completed within {timeout_s:g} s of arming: {what} (last answer {answer!r} to "
                    f"{status_command}); check the trigger signal, level and slope"
                )
            time.sleep(self.poll_s)

    @staticmethod
    def _trace(signal: str, text: str, t_s: npt.NDArray[np.float64], volts: npt.NDArray[np.float64]) -> Trace:
        return Trace(signal=signal, t_s=t_s, volts=volts, preamble=text)
