"""SCPI-over-TCP servers of the virtual bench: the line server, AC sources and the Yokogawa power analyser.

Each server speaks exactly docs/bench-protocols.md (§1, §2.3): ASCII lines terminated by ``\\n``, one answer line per
query, ``*IDN?``/``*RST``/``*CLS``/``SYST:ERR?``; an unknown header queues ``-113,"Undefined header"`` and a query
with an unknown header gets no answer. Headers are matched case-insensitively with an optional leading colon.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.sim.plant import Plant

log = logging.getLogger(__name__)

Handler = Callable[[str], str | None]


def fmt(x: float) -> str:
    """Format a number as the instruments answer it (``%.6g``)."""
    return f"{x:.6g}"


def parse_bool(arg: str) -> bool:
    """Parse an SCPI boolean (``ON|OFF|1|0``)."""
    a = arg.strip().upper()
    if a in ("ON", "1"):
        return True
    if a in ("OFF", "0"):
        return False
    raise ValueError(f"not a boolean: {arg!r}")


def parse_floats(arg: str) -> list[float]:
    """Parse a comma-separated list of numbers."""
    return [float(x) for x in arg.split(",") if x.strip()]


def require(ok: bool, arg: str) -> None:
    """Accept a parameter the simulated instrument supports; raise ValueError (an SCPI -224) for any other."""
    if not ok:
        raise ValueError(f"unsupported parameter {arg!r}")


class LineServer:
    """A TCP raw-socket server that answers one command line at a time (the virtual SCPI instruments and scope):
    ``handle_line`` gives the answer, a text line (sent with its ``\\n``) or bytes sent as they are (a block)."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    def handle_line(self, line: str) -> str | bytes | None:
        """Execute one command line; return the answer for a query, None otherwise (override)."""
        raise NotImplementedError

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound (host, port)."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=2**20)
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                answer = self.handle_line(raw.decode("ascii", errors="replace"))
                if answer is not None:
                    writer.write(answer if isinstance(answer, bytes) else answer.encode("ascii") + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()


class ScpiServer(LineServer):
    """One SCPI instrument on a TCP raw socket.

    Args:
        plant: the plant the instrument is wired to.
        params: instrument parameters from the bench spec (``serial``, ``firmware``...).
    """

    vendor = "RIG"
    model = "SCPI"

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        self.plant = plant
        self.params = dict(params or {})
        self.errors: deque[tuple[int, str]] = deque(maxlen=20)
        self.handlers: dict[str, Handler] = {
            "*IDN?": lambda _a: self.idn(),
            "*RST": lambda _a: self.reset(),
            "*CLS": lambda _a: self.errors.clear(),
            "SYST:ERR?": lambda _a: self._pop_error(),
        }
        self.add_handlers()
        LineServer.__init__(self)

    def idn(self) -> str:
        """The ``*IDN?`` answer."""
        serial = str(self.params.get("serial", "SIM0001"))
        firmware = str(self.params.get("firmware", "1.0"))
        return ",".join((self.vendor, self.model, serial, firmware))

    def add_handlers(self) -> None:
        """Register the instrument's headers in ``self.handlers`` (override)."""

    def reset(self) -> None:
        """``*RST`` (override to reset instrument state)."""

    def _pop_error(self) -> str:
        if not self.errors:
            return '0,"No error"'
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    def handle_line(self, line: str) -> str | None:
        """Execute one command line; return the answer for a query, None otherwise."""
        line = line.strip()
        if not line:
            return None
        header, _, args = line.partition(" ")
        key = header.lstrip(":").upper()
        fn = self.handlers.get(key)
        if fn is None:
            self.errors.append((-113, "Undefined header"))
            return None
        try:
            answer = fn(args.strip())
        except (ValueError, IndexError, KeyError) as exc:
            log.debug("%s: bad parameter in %r: %s", self.model, line, exc)
            self.errors.append((-224, "Illegal parameter value"))
            return None
        return answer if key.endswith("?") else None


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


class YokogawaWt(ScpiServer):
    """Yokogawa WT-style power analyser (element 1..phases), docs/bench-protocols.md §2.3."""

    vendor = "YOKOGAWA"
    model = "WT333E"

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        self.items: dict[int, tuple[str, int]] = {}
        self._defaults()
        super().__init__(plant, params)

    def _defaults(self) -> None:
        self.items = {1: ("U", 1), 2: ("I", 1), 3: ("P", 1), 4: ("WHP", 1)}
        self.count = 4
        self.integ_state = "RESet"
        self.integ_base_wh = 0.0
        self.integ_frozen_wh = 0.0

    def add_handlers(self) -> None:
        """Register §2.3 (``:NUM:NORM:ITEM1``..``ITEM32``)."""
        self.handlers.update(
            {
                "NUM:FORM": lambda a: require(a.strip().upper().startswith("ASC"), a),
                "NUM:NORM:NUM": lambda a: setattr(self, "count", int(float(a))),
                "NUM:NORM:VAL?": lambda _a: ",".join(self._value(*self.items[k]) for k in range(1, self.count + 1)),
                "INTEG:RESET": lambda _a: self._integ("RESet"),
                "INTEG:START": lambda _a: self._integ("STARt"),
                "INTEG:STOP": lambda _a: self._integ("STOP"),
                "INTEG:STAT?": lambda _a: self.integ_state,
            }
        )
        for k in range(1, 33):
            self.handlers[f"NUM:NORM:ITEM{k}"] = functools.partial(self._set_item, k)

    def reset(self) -> None:
        """Integration reset, default items."""
        self._defaults()

    def _set_item(self, k: int, arg: str) -> None:
        fn, _, elem = arg.partition(",")
        e = int(elem or 1)
        if fn.strip().upper() not in ("U", "I", "P", "WHP") or not 1 <= e <= 3:
            raise ValueError(arg)
        self.items[k] = (fn.strip().upper(), e)

    def _integ(self, state: str) -> None:
        now = self.plant.energy_wh()
        if state == "RESet":
            self.integ_frozen_wh = 0.0
        elif state == "STARt" and self.integ_state != "STARt":
            self.integ_base_wh = now - self.integ_frozen_wh
        elif state == "STOP" and self.integ_state == "STARt":
            self.integ_frozen_wh = now - self.integ_base_wh
        self.integ_state = state

    def _value(self, fn: str, element: int) -> str:
        p = self.plant
        if element > p.phases:
            return "NAN"
        if fn == "U":
            return fmt(p.mains_v())
        if fn == "I":
            return fmt(p.ev_current_a())
        if fn == "P":
            return fmt(p.power_w() / p.phases)
        wh = p.energy_wh() - self.integ_base_wh if self.integ_state == "STARt" else self.integ_frozen_wh
        return fmt(wh / p.phases)
