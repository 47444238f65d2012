"""SCPI-over-TCP servers of the virtual bench: the line server, the SCPI server base and the Yokogawa power analyser
(the AC sources are in :mod:`rig.sim.ac_sources`).

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
