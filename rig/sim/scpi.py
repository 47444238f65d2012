"""SCPI-over-TCP servers of the virtual bench: the line server, the SCPI server base and the Yokogawa power analyser
(the AC sources are in :mod:`rig.sim.ac_sources`).

Each server speaks exactly docs/bench-protocols.md (§1, §2.3): ASCII lines terminated by ``\\n``, one answer line per
query, ``*IDN?``/``*RST``/``*CLS``/``SYST:ERR?``; an unknown header queues ``-113,"Undefined header"`` and a query
with an unknown header gets no answer. Headers are matched case-insensitively with an optional leading colon.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    """Virtual Yokogawa WT300E power meter (docs/bench-protocols.md §2.3): exactly the commands of the
    ``yokogawa_wt`` driver, in short or long form and any case, with ``:STATus:ERRor?`` for the error queue.

    Answers: ``*IDN?`` -> ``YOKOGAWA,<model>,<serial>,<firmware>``; ``:NUMeric:NORMal:VALue?`` -> the items 1..NUMber
    as NR3 (``2.30000E+02``) separated by commas; ``:INTEGrate:STATe?`` -> ``RES``, ``STAR`` or ``STOP``;
    ``:STATus:ERRor?`` -> ``0,"No error"`` or the oldest queued error. An unknown header queues ``-113,"Undefined
    header"`` (a query with one gets no answer); a parameter it does not take queues ``-224,"Illegal parameter
    value"``. Only headers off (``:COMMunicate:HEADer OFF``) and ASCII numbers are served. Elements beyond the
    plant's phases read 0 (an input with nothing connected).

    Params: ``model`` (``WT333E``; its last digit is the number of elements for a WT33x, 1 for a WT31x),
    ``serial``, ``firmware``.
    """

    vendor = "YOKOGAWA"
    model = "WT333E"
    MAX_ITEMS = 255
    FUNCTIONS = ("U", "I", "P", "WHP")

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None) -> None:
        self.items: dict[int, tuple[str, int]] = {}
        self.count = 0
        self.remote = False
        self.integ_state = "RES"
        self.integ_base_wh = 0.0
        self.integ_frozen_wh = 0.0
        self._defaults()
        self.table: list[tuple[list[tuple[str, str]], bool, Callable[[int, str], str | None]]] = []
        super().__init__(plant, params)
        self.model = str(self.params.get("model", type(self).model))
        self.elements = int(self.model[4]) if self.model.startswith("WT33") and self.model[4:5].isdigit() else 1

    def _defaults(self) -> None:
        self.items = {1: ("U", 1), 2: ("I", 1), 3: ("P", 1), 4: ("WHP", 1)}
        self.count = 4

    def add_handlers(self) -> None:
        """The driver's commands (the base class's SCPI-style table is not used)."""
        on = self._on
        on("*IDN?", lambda _n, _a: self.idn())
        on("*CLS", lambda _n, _a: self.errors.clear())
        on(":STATus:ERRor?", lambda _n, _a: self._pop_error())
        on(":COMMunicate:REMote", lambda _n, a: setattr(self, "remote", parse_bool(a)))
        on(":COMMunicate:HEADer", lambda _n, a: require(not parse_bool(a), a))
        on(":NUMeric:FORMat", lambda _n, a: require(a.strip().upper() in ("ASC", "ASCII"), a))
        on(":NUMeric:NORMal:NUMber", lambda _n, a: setattr(self, "count", self._item_number(a)))
        on(":NUMeric:NORMal:ITEM<x>", self._set_item)
        on(":NUMeric:NORMal:VALue?", lambda _n, _a: ",".join(self._value(k) for k in range(1, self.count + 1)))
        on(":INTEGrate:RESet", lambda _n, _a: self._integ("RES"))
        on(":INTEGrate:STARt", lambda _n, _a: self._integ("STAR"))
        on(":INTEGrate:STOP", lambda _n, _a: self._integ("STOP"))
        on(":INTEGrate:STATe?", lambda _n, _a: self.integ_state)

    def _on(self, header: str, fn: Callable[[int, str], str | None]) -> None:
        """Register ``header`` as the manual spells it (upper case = short form, ``<x>`` = numeric suffix)."""
        nodes = []
        for word in header.rstrip("?").split(":"):
            if word:
                base = word.removesuffix("<x>")
                nodes.append(
                    ("".join(c for c in base if not c.islower()).upper() + ("#" if base != word else ""), base.upper())
                )
        self.table.append((nodes, header.endswith("?"), fn))

    @staticmethod
    def _match(nodes: list[tuple[str, str]], tokens: list[str]) -> int | None:
        """The numeric suffix (0 when none) if ``tokens`` spell ``nodes`` in short or long form, else None."""
        if len(nodes) != len(tokens):
            return None
        suffix = 0
        for (short, long), token in zip(nodes, tokens, strict=True):
            if short.endswith("#"):
                digits = len(token) - len(token.rstrip("0123456789"))
                if not digits:
                    return None
                suffix = int(token[-digits:])
                token, short = token[:-digits], short[:-1]
            if token not in (short, long):
                return None
        return suffix

    def handle_line(self, line: str) -> str | None:
        """Execute one command line; return the answer for a query, None otherwise."""
        line = line.strip()
        if not line:
            return None
        header, _, arg = line.partition(" ")
        query = header.endswith("?")
        tokens = [t for t in header.rstrip("?").upper().split(":") if t]
        for nodes, is_query, fn in self.table:
            suffix = self._match(nodes, tokens) if is_query == query else None
            if suffix is None:
                continue
            try:
                answer = fn(suffix, arg.strip())
            except (ValueError, IndexError, KeyError) as exc:
                log.debug("%s: bad parameter in %r: %s", self.model, line, exc)
                self.errors.append((-224, "Illegal parameter value"))
                return None
            return answer if query else None
        self.errors.append((-113, "Undefined header"))
        return None

    def reset(self) -> None:
        """Default items (not a command of the driver's)."""
        self._defaults()

    def _item_number(self, arg: str) -> int:
        n = int(arg.strip())
        require(1 <= n <= self.MAX_ITEMS, arg)
        return n

    def _set_item(self, k: int, arg: str) -> None:
        fn, _, elem = arg.partition(",")
        function = fn.strip().upper()
        require(1 <= k <= self.MAX_ITEMS and function in self.FUNCTIONS, arg)
        element = int(elem.strip() or 1)
        require(1 <= element <= self.elements, arg)
        self.items[k] = (function, element)

    def _integ(self, state: str) -> None:
        now = self.plant.energy_wh()
        if state == "RES":
            self.integ_frozen_wh = 0.0
        elif state == "STAR" and self.integ_state != "STAR":
            self.integ_base_wh = now - self.integ_frozen_wh
        elif state == "STOP" and self.integ_state == "STAR":
            self.integ_frozen_wh = now - self.integ_base_wh
        self.integ_state = state

    def _value(self, k: int) -> str:
        fn, element = self.items.get(k, ("NONE", 0))
        p = self.plant
        if fn == "NONE":
            return "9.91E+37"  # NAN: no item set
        if element > p.phases:
            return f"{0.0:.5E}"
        if fn == "U":
            return f"{p.mains_v():.5E}"
        if fn == "I":
            return f"{p.ev_current_a():.5E}"
        if fn == "P":
            return f"{p.power_w() / p.phases:.5E}"
        wh = p.energy_wh() - self.integ_base_wh if self.integ_state == "STAR" else self.integ_frozen_wh
        return f"{wh / p.phases:.5E}"
