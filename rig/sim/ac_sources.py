"""Virtual AC sources of the virtual bench: SCPI servers on TCP raw sockets driving the plant's mains.

Moved out of :mod:`rig.sim.scpi` unchanged; each speaks the dialect of docs/bench-protocols.md section 1.
"""

from __future__ import annotations

from typing import Any

from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.sim.plant import Plant
from rig.sim.scpi import ScpiServer, fmt, parse_bool, parse_floats, require


class _AcSourceBase(ScpiServer):
    """Shared AC-source state: list program segments and the armed/trigger bookkeeping."""

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        self.list_volts: list[float] = []
        self.list_dwell: list[float] = []
        self.list_mode = False
        self.trigger_s: float | None = None
        super().__init__(plant, params)

    def reset(self) -> None:
        """Output off, nominal mains (230 V 50 Hz unless ``voltage``/``frequency`` params say), list cleared."""
        self.plant.cancel_program()
        self.plant.set_ac_output(False)
        self.plant.set_ac_voltage(float(self.params.get("voltage", NOMINAL_MAINS_V)))
        self.plant.set_ac_frequency(float(self.params.get("frequency", NOMINAL_MAINS_HZ)))
        self.list_volts, self.list_dwell, self.list_mode = [], [], False

    def _run_list(self) -> None:
        if not self.list_volts:
            raise ValueError("empty list")
        dwell = (
            self.list_dwell
            if len(self.list_dwell) == len(self.list_volts)
            else self.list_dwell[:1] * len(self.list_volts)
        )
        t_ns = self.plant.run_program(list(zip(self.list_volts, dwell, strict=True)))
        self.trigger_s = t_ns / 1e9

    def _trigger_time(self) -> str:
        return "0" if self.trigger_s is None else f"{self.trigger_s:.6f}"

    def _meas_v(self) -> float:
        return self.plant.mains_v()

    def _meas_i(self) -> float:
        return self.plant.ev_current_a()

    def _meas_p(self) -> float:
        return self.plant.power_w()

    def _meas_f(self) -> float:
        return self.plant.ac_frequency_hz if self.plant.ac_on else 0.0


class ScpiAcSource(_AcSourceBase):
    """Generic SCPI AC source (Keysight AC6800 / ITECH IT7900 style), docs/bench-protocols.md §1.1."""

    vendor = "RIG"
    model = "AC6800-SIM"

    def add_handlers(self) -> None:
        """Register §1.1."""
        p = self.plant
        self.armed = False
        self.handlers.update(
            {
                "OUTP": lambda a: p.set_ac_output(parse_bool(a)),
                "OUTP?": lambda _a: str(int(p.ac_on)),
                "VOLT": lambda a: p.set_ac_voltage(float(a)),
                "VOLT?": lambda _a: fmt(p.ac_setpoint_v),
                "FREQ": lambda a: p.set_ac_frequency(float(a)),
                "FREQ?": lambda _a: fmt(p.ac_frequency_hz),
                "CURR": lambda a: p.set_ac_current_limit(float(a)),
                "CURR?": lambda _a: fmt(p.ac_current_limit_a),
                "MEAS:VOLT:AC?": lambda _a: fmt(self._meas_v()),
                "MEAS:CURR:AC?": lambda _a: fmt(self._meas_i()),
                "MEAS:POW:AC?": lambda _a: fmt(self._meas_p()),
                "MEAS:FREQ?": lambda _a: fmt(self._meas_f()),
                "LIST:VOLT": lambda a: setattr(self, "list_volts", parse_floats(a)),
                "LIST:DWEL": lambda a: setattr(self, "list_dwell", parse_floats(a)),
                "VOLT:MODE": self._volt_mode,
                "TRIG:TRAN:SOUR": lambda a: require(a.strip().upper() == "BUS", a),
                "INIT:TRAN": lambda _a: setattr(self, "armed", True),
                "*TRG": lambda _a: self._trg(),
                "LIST:TRIG:TIME?": lambda _a: self._trigger_time(),
            }
        )

    def _volt_mode(self, arg: str) -> None:
        mode = arg.strip().upper()
        if mode.startswith("LIST"):
            self.list_mode = True
        elif mode.startswith("FIX"):
            self.list_mode = False
            self.armed = False
            self.plant.cancel_program()
        else:
            raise ValueError(mode)

    def _trg(self) -> None:
        if self.list_mode and self.armed:
            self.armed = False
            self._run_list()


class Chroma61500(_AcSourceBase):
    """Chroma 61500/61600 programmable AC source, docs/bench-protocols.md §1.2.

    ``SOUR:LIST:VOLT:AC:STAR``/``END`` ramps are modelled as their start value held for the dwell (sag, dropout and
    swell programs have start = end).
    """

    vendor = "Chroma ATE"
    model = "61512"

    def add_handlers(self) -> None:
        """Register §1.2."""
        p = self.plant
        self.handlers.update(
            {
                "OUTP:STAT": lambda a: p.set_ac_output(parse_bool(a)),
                "OUTP:STAT?": lambda _a: str(int(p.ac_on)),
                "SOUR:VOLT:LEV:IMM:AC": lambda a: p.set_ac_voltage(float(a)),
                "SOUR:VOLT:AC?": lambda _a: fmt(p.ac_setpoint_v),
                "SOUR:FREQ:IMM": lambda a: p.set_ac_frequency(float(a)),
                "SOUR:FREQ?": lambda _a: fmt(p.ac_frequency_hz),
                "SOUR:CURR:LIM": lambda a: p.set_ac_current_limit(float(a)),
                "SOUR:CURR:LIM?": lambda _a: fmt(p.ac_current_limit_a),
                "FETC:VOLT:ACDC?": lambda _a: fmt(self._meas_v()),
                "FETC:CURR:AC?": lambda _a: fmt(self._meas_i()),
                "FETC:POW:AC?": lambda _a: fmt(self._meas_p()),
                "FETC:FREQ?": lambda _a: fmt(self._meas_f()),
                "OUTP:MODE": self._mode,
                "SOUR:LIST:COUN": lambda a: require(int(float(a)) == 1, a),
                "SOUR:LIST:BASE": lambda a: require(a.strip().upper() == "TIME", a),
                "SOUR:LIST:DWEL": lambda a: setattr(self, "list_dwell", parse_floats(a)),
                "SOUR:LIST:VOLT:AC:STAR": lambda a: setattr(self, "list_volts", parse_floats(a)),
                "SOUR:LIST:VOLT:AC:END": lambda a: setattr(self, "list_end", parse_floats(a)),
                "TRIG": self._trig,
                "SOUR:LIST:TRIG:TIME?": lambda _a: self._trigger_time(),
            }
        )

    def _mode(self, arg: str) -> None:
        mode = arg.strip().upper()
        if mode == "LIST":
            self.list_mode = True
        elif mode.startswith("FIX"):
            self.list_mode = False
            self.plant.cancel_program()
        else:
            raise ValueError(mode)

    def _trig(self, arg: str) -> None:
        if parse_bool(arg):
            if self.list_mode:
                self._run_list()
        else:
            self.plant.cancel_program()
