"""Virtual AC sources of the virtual bench: one SCPI server per model on a TCP raw socket, driving the plant's mains.

Each answers exactly the commands its driver sends (docs/bench-protocols.md section 1), in the manual's formats, and
nothing else: an unknown header queues ``-113,"Undefined header"`` (a query with one gets no answer), a bad parameter
``-224,"Illegal parameter value"``, a list that cannot run ``-221,"Settings conflict"``. Setpoints and list programs
go to the plant (``set_ac_output``/``set_ac_voltage``/..., ``run_program``); the plant models voltage lists only
(a list point's frequency is checked and kept, not applied).

Params (the role's ``params``): ``model`` (the ``*IDN?`` model field), ``serial``, ``firmware``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rig.sim.plant import ListProgram, Plant
from rig.sim.scpi import ScpiServer, parse_bool, parse_floats, require

log = logging.getLogger(__name__)

SETTINGS_CONFLICT = (-221, "Settings conflict")


class _AcSource(ScpiServer):
    """Shared part: identity, the plant's measurements, the answer formats."""

    vendor = "RIG"
    model = "AC"
    NUMBER: ClassVar[str] = ".2f"
    """Format of a number in an answer (``.2f``: <NR2>; ``+.5E``: <NR3>)."""

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        super().__init__(plant, params)
        for header in ("*RST", "*CLS"):  # the drivers send neither
            del self.handlers[header]
        if "model" in self.params:
            self.model = str(self.params["model"])

    def num(self, x: float) -> str:
        """A number as this model answers it."""
        return format(x, self.NUMBER)

    def output(self) -> str:
        """``0|1``: the output state."""
        return "1" if self.plant.ac_on else "0"

    def measured_v(self) -> str:
        """The output voltage, V rms."""
        return self.num(self.plant.mains_v())

    def measured_a(self) -> str:
        """The output current, A rms."""
        return self.num(self.plant.ev_current_a())

    def measured_w(self) -> str:
        """The output active power, W."""
        return self.num(self.plant.power_w())

    def measured_hz(self) -> str:
        """The output frequency (0 with the output off), Hz."""
        return self.num(self.plant.ac_frequency_hz if self.plant.ac_on else 0.0)

    def conflict(self, why: str) -> None:
        """Queue ``-221,"Settings conflict"`` (logged with ``why``)."""
        log.debug("%s: settings conflict: %s", self.model, why)
        self.errors.append(SETTINGS_CONFLICT)


class Chroma61500(_AcSource):
    """Chroma 61500/61600 (default ``*IDN?`` model 61504): fixed-mode setpoints, FETCh, LIST mode with ``TRIG ON``.

    LIST points hold their start voltage for their dwell (the drivers' programs have start = end; a ramp queues
    -221); ``TRIG:STATE?`` answers ``RUNNING`` while the plant runs the list, ``OFF`` after it.
    """

    vendor = "Chroma ATE"
    model = "61504"

    def add_handlers(self) -> None:
        """Register docs/bench-protocols.md section 1.1."""
        p = self.plant
        self.mode = "FIXED"
        self.lists: dict[str, list[float]] = {}
        self.running: ListProgram | None = None
        self.handlers.update(
            {
                "OUTP": lambda a: p.set_ac_output(parse_bool(a)),
                "OUTP?": lambda _a: self.output(),
                "SOUR:VOLT:AC": lambda a: p.set_ac_voltage(_within(a, 0.0, 300.0)),
                "SOUR:VOLT:AC?": lambda _a: self.num(p.ac_setpoint_v),
                "SOUR:FREQ": lambda a: p.set_ac_frequency(_within(a, 15.0, 1000.0)),
                "SOUR:FREQ?": lambda _a: self.num(p.ac_frequency_hz),
                "SOUR:CURR:LIM": lambda a: p.set_ac_current_limit(_within(a, 0.0, 1000.0)),
                "SOUR:CURR:LIM?": lambda _a: self.num(p.ac_current_limit_a),
                "FETC:VOLT:ACDC?": lambda _a: self.measured_v(),
                "FETC:CURR:AC?": lambda _a: self.measured_a(),
                "FETC:POW:AC?": lambda _a: self.measured_w(),
                "FETC:FREQ?": lambda _a: self.measured_hz(),
                "OUTP:MODE": self._mode,
                "LIST:BASE": lambda a: require(a.strip().upper() == "TIME", a),
                "LIST:COUN": lambda a: require(float(a) == 1, a),
                "LIST:DWEL": lambda a: self._list("DWEL", a, 0.1, 99999999.9),
                "LIST:VOLT:AC:STAR": lambda a: self._list("VSTAR", a, 0.0, 300.0),
                "LIST:VOLT:AC:END": lambda a: self._list("VEND", a, 0.0, 300.0),
                "LIST:FREQ:STAR": lambda a: self._list("FSTAR", a, 15.0, 1000.0),
                "LIST:FREQ:END": lambda a: self._list("FEND", a, 15.0, 1000.0),
                "TRIG": self._trig,
                "TRIG:STATE?": lambda _a: "RUNNING" if self._running() else "OFF",
            }
        )

    def _list(self, name: str, arg: str, low: float, high: float) -> None:
        self.lists[name] = _floats(arg, low, high)

    def _mode(self, arg: str) -> None:
        mode = arg.strip().upper()
        require(mode in ("FIXED", "LIST"), arg)
        if mode == "FIXED" and self._running():
            self.conflict("OUTP:MODE FIXED while a list runs (TRIG OFF first)")
            return
        self.mode = mode

    def _running(self) -> bool:
        return self.running is not None and self.plant.program is self.running

    def _trig(self, arg: str) -> None:
        if not parse_bool(arg):
            if self._running():
                self.plant.cancel_program()
            self.running = None
            return
        volts, ends, dwell = self.lists.get("VSTAR"), self.lists.get("VEND"), self.lists.get("DWEL")
        if self.mode != "LIST" or volts is None or ends is None or dwell is None:
            self.conflict("TRIG ON needs OUTP:MODE LIST and the voltage and dwell lists")
            return
        lengths = {len(v) for v in self.lists.values()}
        if len(lengths) != 1 or volts != ends or self.lists.get("FSTAR") != self.lists.get("FEND"):
            self.conflict(f"list lengths {sorted(lengths)} differ, or a point ramps (start != end)")
            return
        self.plant.run_program([(v, ms / 1000.0) for v, ms in zip(volts, dwell, strict=True)])
        self.running = self.plant.program


class AmetekSequoia(_AcSource):
    """AMETEK/California Instruments Sequoia (default ``*IDN?`` model SQ45-1): setpoints, MEASure, LIST transients
    started by ``INIT`` + ``*TRG`` with the trigger source BUS.

    The trigger-out pulse (``OUTP:TTLT:STAT ON``, ``OUTP:TTLT:SOUR BOT``) is recorded in :attr:`trigger_out_ns`, the
    plant time of each pulse: the beginning of the transient.
    """

    vendor = "California Instruments"
    model = "SQ45-1"

    def add_handlers(self) -> None:
        """Register docs/bench-protocols.md section 1.2."""
        p = self.plant
        self.list_volts: list[float] = []
        self.list_dwell: list[float] = []
        self.volt_mode = "FIX"
        self.ttl_on = False
        self.ttl_source = "BOT"
        self.armed = False
        self.trigger_out_ns: list[int] = []
        self.handlers.update(
            {
                "OUTP": lambda a: p.set_ac_output(parse_bool(a)),
                "OUTP?": lambda _a: self.output(),
                "VOLT": lambda a: p.set_ac_voltage(_within(a, 0.0, 300.0)),
                "FREQ": lambda a: p.set_ac_frequency(_within(a, 45.0, 65.0)),
                "MEAS:VOLT:AC?": lambda _a: self.measured_v(),
                "MEAS:CURR:AC?": lambda _a: self.measured_a(),
                "LIST:VOLT": lambda a: setattr(self, "list_volts", _floats(a, 0.0, 300.0)),
                "LIST:DWEL": lambda a: setattr(self, "list_dwell", _floats(a, 0.001, 9e4)),
                "LIST:COUN": lambda a: require(float(a) == 1, a),
                "LIST:STEP": lambda a: require(a.strip().upper() == "AUTO", a),
                "VOLT:MODE": self._volt_mode,
                "OUTP:TTLT:STAT": lambda a: setattr(self, "ttl_on", parse_bool(a)),
                "OUTP:TTLT:SOUR": self._ttl_source,
                "TRIG:SOUR": lambda a: require(a.strip().upper() == "BUS", a),
                "INIT": lambda _a: setattr(self, "armed", True),
                "*TRG": lambda _a: self._trg(),
                "ABOR": lambda _a: self._abort(),
            }
        )

    def _volt_mode(self, arg: str) -> None:
        mode = arg.strip().upper()
        require(mode in ("FIX", "FIXED", "LIST"), arg)
        self.volt_mode = "LIST" if mode == "LIST" else "FIX"

    def _ttl_source(self, arg: str) -> None:
        source = arg.strip().upper()
        require(source in ("BOT", "EOT", "LIST"), arg)
        self.ttl_source = source

    def _trg(self) -> None:
        if not self.armed:
            return  # a trigger with the trigger system idle is ignored
        self.armed = False
        if self.volt_mode != "LIST":
            return
        volts, dwell = self.list_volts, self.list_dwell
        if len(dwell) == 1:
            dwell = dwell * len(volts)  # one dwell applies to every point (p.165)
        if not volts or len(dwell) != len(volts):
            self.conflict(f"{len(volts)} voltage points but {len(self.list_dwell)} dwell times")
            return
        start = self.plant.run_program(list(zip(volts, dwell, strict=True)))
        if self.ttl_on and self.ttl_source == "BOT":
            self.trigger_out_ns.append(start)

    def _abort(self) -> None:
        self.armed = False
        self.plant.cancel_program()


class KeysightAc6800(_AcSource):
    """Keysight AC6800B (default ``*IDN?`` model AC6803B): setpoints and MEASure queries; no list program."""

    vendor = "Keysight Technologies"
    model = "AC6803B"
    NUMBER = "+.5E"

    def add_handlers(self) -> None:
        """Register docs/bench-protocols.md section 1.3."""
        p = self.plant
        self.handlers.update(
            {
                "OUTP": lambda a: p.set_ac_output(parse_bool(a)),
                "OUTP?": lambda _a: self.output(),
                "VOLT": lambda a: p.set_ac_voltage(_within(a, 0.0, 300.0)),
                "VOLT?": lambda _a: self.num(p.ac_setpoint_v),
                "FREQ": lambda a: p.set_ac_frequency(_within(a, 45.0, 65.0)),
                "CURR": lambda a: p.set_ac_current_limit(_within(a, 0.0, 1000.0)),
                "MEAS:VOLT:AC?": lambda _a: self.measured_v(),
                "MEAS:CURR:AC?": lambda _a: self.measured_a(),
                "MEAS:FREQ?": lambda _a: self.measured_hz(),
            }
        )


def _within(arg: str, low: float, high: float) -> float:
    """A number within low..high (else ValueError: the server queues -224)."""
    value = float(arg)
    if not low <= value <= high:
        raise ValueError(arg)
    return value


def _floats(arg: str, low: float, high: float) -> list[float]:
    """A non-empty comma-separated list of numbers within low..high (else ValueError)."""
    values = parse_floats(arg)
    if not values or not all(low <= v <= high for v in values):
        raise ValueError(arg)
    return values
