"""A virtual Keysight InfiniiVision 3000T oscilloscope: SCPI over a TCP raw socket, answering exactly the commands
of ``rig.instruments.keysight_infiniivision`` in the formats of the Keysight InfiniiVision Programmer's Guides
(docs/bench-protocols.md section 5.1 lists them; section 5.3 what this server models).

What the probes see comes from a signal source given to the server, ``source(channel, t) -> volts`` (``t`` a 1-D
array of seconds on the server's clock). The server adds what a front end adds: a finite 10-90 % rise time (a
moving average over the rise time / 0.8) and Gaussian noise; then it quantises to the configured scale and offset.

Acquisition model: ``:SINGle`` arms; the record needs ``5 x scale - position`` seconds of pre-trigger signal, then
the first edge of the trigger channel through the level with the slope triggers (searched on the server's clock as
it passes, so a capture completes in real time); with ``:TRIGger:SWEep AUTO`` the scope triggers by itself when no
edge came for ``max(40 ms, 10 x scale)``. The record spans the 10 divisions around the trigger (``:TIMebase:POSition``
from the trigger to the screen centre). Bit 3 (Run, 8) of ``:OPERegister:CONDition?`` is set from ``:SINGle`` until
the record is complete, bit 5 (Wait Trig, 32) until the trigger; ``:TER?`` answers ``+1`` once after a trigger event
(not after an auto trigger) and reading clears it. The crossing is searched in steps of 1 % of a division and
interpolated to :data:`TRIGGER_RESOLUTION_S`; with ``settle_s`` the search and the completion stay that far behind
the clock (a source recorded with late timestamps, as the virtual bench's plant: :mod:`rig.sim.scope_signals`).

Errors as the instrument queues them: an unknown header ``-113,"Undefined header"`` (a query with one gets no
answer), a parameter it does not take ``-224,"Illegal parameter value"``, a number out of range ``-222,"Data out of
range"``, waveform data asked for before any acquisition ``-230,"Data corrupt or stale"`` (no answer either).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from rig.sim.scpi import LineServer

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
SignalSource = Callable[[int, FloatArray], FloatArray]
"""``source(channel, t)``: volts at the probe tip of ``channel`` (1-based) at the times ``t`` (s, server clock)."""

NOT_MEASURABLE = 9.9e37
POINTS_STEPS = (100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
"""Record lengths the server rounds ``:WAVeform:POINts`` down to."""
NORMAL_MODE_MAX_POINTS = 62_500
"""The measurement record's length, the most ``:WAVeform:POINts:MODE NORMal`` gives."""
DIVISIONS = 10
TRIGGER_RESOLUTION_S = 1e-8
"""The trigger time is interpolated to this within the search step (1 % of a division)."""
TRIGGER_REFINEMENTS = 4


def pwm_source(
    channel: int, frequency_hz: float = 1000.0, duty: float = 0.5, high_v: float = 12.0, low_v: float = -12.0
) -> SignalSource:
    """A source putting an ideal PWM (rising edges at t = k / frequency) on ``channel`` and 0 V on the others."""

    def source(ch: int, t: FloatArray) -> FloatArray:
        if ch != channel:
            return np.zeros_like(t)
        phase = np.mod(t * frequency_hz, 1.0)
        return np.where(phase < duty, high_v, low_v).astype(np.float64)

    return source


class ScpiError(Exception):
    """A command the instrument refuses: it queues ``code,"text"``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code},{text}")
        self.code = code
        self.text = text


def _illegal(arg: str) -> ScpiError:
    return ScpiError(-224, "Illegal parameter value")


def choice(arg: str, options: tuple[str, ...]) -> str:
    """Match an SCPI enumerated parameter in short or long form (``NORM``/``NORMal``); return its manual spelling."""
    a = arg.strip().upper()
    for option in options:
        short = "".join(c for c in option if not c.islower())
        if a in (short.upper(), option.upper()):
            return option
    raise _illegal(arg)


def number(arg: str, low: float = -math.inf, high: float = math.inf) -> float:
    """Parse an SCPI number; outside low..high it is ``-222,"Data out of range"``."""
    try:
        value = float(arg.strip())
    except ValueError:
        raise _illegal(arg) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ScpiError(-222, "Data out of range")
    return value


def boolean(arg: str) -> bool:
    """Parse an SCPI boolean (``1|0|ON|OFF``)."""
    a = arg.strip().upper()
    if a in ("1", "ON"):
        return True
    if a in ("0", "OFF"):
        return False
    raise _illegal(arg)


def source_channel(arg: str, channels: int) -> int:
    """Parse ``CHANnel<n>`` (short or long form, any case) with n in 1..channels."""
    a = arg.strip().upper()
    for prefix in ("CHANNEL", "CHAN"):
        if a.startswith(prefix) and a[len(prefix) :].isdigit():
            n = int(a[len(prefix) :])
            if 1 <= n <= channels:
                return n
    raise _illegal(arg)


@dataclass
class _Node:
    short: str
    long: str
    suffix: bool


def _pattern(header: str) -> list[_Node]:
    """``:CHANnel<n>:SCALe`` -> nodes (short ``CHAN``, long ``CHANNEL``, numeric suffix) ..."""
    nodes = []
    for part in header.lstrip(":").split(":"):
        suffix = part.endswith("<n>")
        word = part[:-3] if suffix else part
        nodes.append(_Node("".join(c for c in word if not c.islower()).upper(), word.upper(), suffix))
    return nodes


def _match(nodes: list[_Node], tokens: list[str]) -> list[int] | None:
    """The numeric suffixes if ``tokens`` (upper case) spell ``nodes`` in short or long form, else None."""
    if len(nodes) != len(tokens):
        return None
    suffixes = []
    for node, token in zip(nodes, tokens, strict=True):
        if node.suffix:
            digits = len(token) - len(token.rstrip("0123456789"))
            if digits == 0:
                return None
            suffixes.append(int(token[-digits:]))
            token = token[:-digits]
        if token not in (node.short, node.long):
            return None
    return suffixes


@dataclass
class _Channel:
    display: bool = False
    probe: float = 1.0
    scale: float = 1.0
    offset: float = 0.0


@dataclass
class _Acquisition:
    """One single-shot record: when it triggered and the settings it was taken with."""

    index: int
    t_trigger: float
    triggered: bool
    t_done: float
    time_scale: float
    position: float
    points: int
    channels: dict[int, _Channel]
    volts: dict[int, FloatArray] = field(default_factory=dict)

    @property
    def x_increment(self) -> float:
        return DIVISIONS * self.time_scale / self.points

    @property
    def x_origin(self) -> float:
        return self.position - DIVISIONS / 2 * self.time_scale


AUTO_TIMEOUT_S = 0.01
"""With AUTO sweep and no trigger, the virtual scope triggers itself this long after the pre-trigger is filled (or
after one screen, if longer), s."""


class VirtualInfiniiVision(LineServer):
    """The virtual scope: state, command table and TCP server.

    Args:
        source: what the probes see (see :data:`SignalSource`).
        model: the ``*IDN?`` model (a 3000T by default).
        serial: the ``*IDN?`` serial number.
        firmware: the ``*IDN?`` firmware revision.
        channels: analog inputs.
        rise_time_s: 10-90 % rise time of the front end, s (0: ideal).
        noise_v: RMS noise added to every sample, V.
        max_points: longest record the acquisition memory holds.
        seed: seed of the noise (each record and channel draws its own stream from it).
        clock: the server's clock, s (monotonic).
        settle_s: how far behind the clock the source may still change (a source recorded with timestamps that
            arrive late): the trigger is searched, and a record completes, only up to the clock minus this, s.
    """

    vendor = "KEYSIGHT TECHNOLOGIES"

    def __init__(
        self,
        source: SignalSource,
        *,
        model: str = "DSOX3024T",
        serial: str = "MY00000001",
        firmware: str = "07.50.2021102830",
        channels: int = 4,
        rise_time_s: float = 2e-6,
        noise_v: float = 0.02,
        max_points: int = 1_000_000,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        settle_s: float = 0.0,
    ) -> None:
        self.source = source
        self.model, self.serial, self.firmware = model, serial, firmware
        self.channel_count = channels
        self.rise_time_s = rise_time_s
        self.noise_v = noise_v
        self.max_points = max_points
        self.seed = seed
        self.clock = clock
        self.settle_s = settle_s
        self.errors: deque[tuple[int, str]] = deque(maxlen=30)
        self.log: list[str] = []
        """Every command line received, in order (for tests)."""
        self.channels = {n: _Channel() for n in range(1, channels + 1)}
        self.time_scale = 1e-4
        self.position = 0.0
        self.trigger_source = 1
        self.trigger_level = 0.0
        self.trigger_slope = "POSitive"
        self.sweep = "AUTO"
        self.points_mode = "NORMal"
        self.points = 1000
        self.format = "BYTE"
        self.byte_order = "MSBFirst"
        self.waveform_source = 1
        self._armed_at: float | None = None
        self._searched_to = 0.0
        self._pending: _Acquisition | None = None
        self.last: _Acquisition | None = None
        self._ter = False
        self._captures = 0
        self._handlers: list[tuple[list[_Node], bool, Callable[[list[int], str], str | bytes | None]]] = []
        self._register()
        LineServer.__init__(self)

    # -- command table -------------------------------------------------------------------------------------------
    def _on(self, header: str, fn: Callable[[list[int], str], str | bytes | None]) -> None:
        query = header.endswith("?")
        self._handlers.append((_pattern(header.rstrip("?")), query, fn))

    def _register(self) -> None:
        ch = self._channel
        self._on("*IDN?", lambda _s, _a: f"{self.vendor},{self.model},{self.serial},{self.firmware}")
        self._on("*CLS", lambda _s, _a: self._cls())
        self._on(":SYSTem:ERRor?", lambda _s, _a: self._pop_error())
        self._on(":CHANnel<n>:DISPlay", lambda s, a: setattr(ch(s), "display", boolean(a)))
        self._on(":CHANnel<n>:PROBe", lambda s, a: setattr(ch(s), "probe", number(a, 0.001, 10000)))
        self._on(":CHANnel<n>:SCALe", lambda s, a: setattr(ch(s), "scale", number(a, 1e-4, 1e5)))
        self._on(":CHANnel<n>:OFFSet", lambda s, a: setattr(ch(s), "offset", number(a, -1e5, 1e5)))
        self._on(":TIMebase:SCALe", lambda _s, a: setattr(self, "time_scale", number(a, 1e-9, 50)))
        self._on(":TIMebase:POSition", lambda _s, a: setattr(self, "position", number(a, -500, 500)))
        self._on(":ACQuire:TYPE", lambda _s, a: choice(a, ("NORMal",)) and None)
        self._on(":TRIGger:MODE", lambda _s, a: choice(a, ("EDGE",)) and None)
        self._on(":TRIGger:EDGE:SOURce", lambda _s, a: setattr(self, "trigger_source", self._source(a)))
        self._on(":TRIGger:EDGE:LEVel", lambda _s, a: setattr(self, "trigger_level", number(a, -1e5, 1e5)))
        self._on(
            ":TRIGger:EDGE:SLOPe", lambda _s, a: setattr(self, "trigger_slope", choice(a, ("POSitive", "NEGative")))
        )
        self._on(":TRIGger:SWEep", lambda _s, a: setattr(self, "sweep", choice(a, ("NORMal", "AUTO"))))
        self._on(
            ":WAVeform:POINts:MODE", lambda _s, a: setattr(self, "points_mode", choice(a, ("NORMal", "MAXimum", "RAW")))
        )
        self._on(":WAVeform:POINts", lambda _s, a: setattr(self, "points", int(number(a, 100, 8_000_000))))
        self._on(":WAVeform:FORMat", lambda _s, a: setattr(self, "format", choice(a, ("BYTE", "WORD"))))
        self._on(":WAVeform:UNSigned", lambda _s, a: None if boolean(a) else self._raise(_illegal(a)))
        self._on(":WAVeform:BYTeorder", lambda _s, a: setattr(self, "byte_order", choice(a, ("MSBFirst", "LSBFirst"))))
        self._on(":WAVeform:SOURce", lambda _s, a: setattr(self, "waveform_source", self._source(a)))
        self._on(":WAVeform:PREamble?", lambda _s, _a: self._preamble())
        self._on(":WAVeform:DATA?", lambda _s, _a: self._data())
        self._on(":STOP", lambda _s, _a: self._stop())
        self._on(":SINGle", lambda _s, _a: self._single())
        self._on(":TER?", lambda _s, _a: self._read_ter())
        self._on(":OPERegister:CONDition?", lambda _s, _a: f"{self.operation_condition():+d}")
        self._on(":MEASure:DUTYcycle?", lambda _s, a: self._measure(a, _duty_pct))
        self._on(":MEASure:FREQuency?", lambda _s, a: self._measure(a, _frequency_hz))
        self._on(":MEASure:VTOP?", lambda _s, a: self._measure(a, _level_top))
        self._on(":MEASure:VBASe?", lambda _s, a: self._measure(a, _level_base))

    @staticmethod
    def _raise(error: ScpiError) -> None:
        raise error

    def _channel(self, suffixes: list[int]) -> _Channel:
        if not 1 <= suffixes[0] <= self.channel_count:
            raise ScpiError(-113, "Undefined header")
        return self.channels[suffixes[0]]

    def _source(self, arg: str) -> int:
        return source_channel(arg, self.channel_count)

    def _cls(self) -> None:
        self.errors.clear()
        self._ter = False

    def _pop_error(self) -> str:
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.popleft()
        return f'{code:+d},"{text}"'

    def handle_line(self, line: str) -> bytes | None:
        """Execute one command line; return the answer bytes (terminator included) for a query, None otherwise."""
        line = line.strip()
        if not line:
            return None
        self.log.append(line)
        header, _, arg = line.partition(" ")
        query = header.endswith("?")
        if header.startswith("*"):
            tokens = [header.rstrip("?").upper()]
        else:
            tokens = header.lstrip(":").rstrip("?").upper().split(":")
        for nodes, is_query, fn in self._handlers:
            if is_query != query:
                continue
            suffixes = _match(nodes, tokens)
            if suffixes is None:
                continue
            try:
                self._advance()
                answer = fn(suffixes, arg)
            except ScpiError as exc:
                log.debug("virtual scope: %r refused: %s", line, exc)
                self.errors.append((exc.code, exc.text))
                return None
            if not query or answer is None:
                return None
            return answer if isinstance(answer, bytes) else answer.encode("ascii") + b"\n"
        self.errors.append((-113, "Undefined header"))
        return None

    # -- acquisition ---------------------------------------------------------------------------------------------
    def now(self) -> float:
        """Get the server clock, s (the time base of the signal source)."""
        return self.clock()

    def _pretrigger_s(self) -> float:
        return max(0.0, DIVISIONS / 2 * self.time_scale - self.position)

    def _record_points(self) -> int:
        cap = NORMAL_MODE_MAX_POINTS if self.points_mode == "NORMal" else self.max_points
        wanted = min(self.points, cap)
        return max([p for p in POINTS_STEPS if p <= wanted], default=POINTS_STEPS[0])

    def _single(self) -> None:
        self._armed_at = self.now()
        self._searched_to = self._armed_at + self._pretrigger_s()
        self._pending = None
        self.last = None

    def _stop(self) -> None:
        self._armed_at = None
        self._pending = None

    def _read_ter(self) -> str:
        answer = "+1" if self._ter else "+0"
        self._ter = False
        return answer

    def operation_condition(self) -> int:
        """Get the Operation Status Condition Register: bit 3 (8) Run, bit 5 (32) Wait Trig."""
        self._advance()
        if self._armed_at is None:
            return 0
        return 8 | (32 if self._pending is None else 0)

    def _acquisition(self, t_trigger: float, triggered: bool) -> _Acquisition:
        self._captures += 1
        post = max(0.0, DIVISIONS / 2 * self.time_scale + self.position)
        return _Acquisition(
            index=self._captures,
            t_trigger=t_trigger,
            triggered=triggered,
            t_done=t_trigger + post,
            time_scale=self.time_scale,
            position=self.position,
            points=self._record_points(),
            channels={n: replace(c) for n, c in self.channels.items()},
        )

    def _advance(self) -> None:
        """Bring the acquisition up to the clock: look for the trigger in the signal that has passed, finish the
        record once its post-trigger part has passed (both on the settled part of the source: ``settle_s`` behind)."""
        now = self.now() - self.settle_s
        if self._armed_at is not None and self._pending is None and now > self._searched_to:
            found = self._find_trigger(self._searched_to, now)
            if found is not None:
                self._pending = self._acquisition(found, True)
                self._ter = True
            elif self.sweep == "AUTO":
                auto_at = self._armed_at + self._pretrigger_s() + max(AUTO_TIMEOUT_S, DIVISIONS * self.time_scale)
                if now >= auto_at:
                    self._pending = self._acquisition(auto_at, False)
        if self._pending is not None and now >= self._pending.t_done:
            self.last = self._pending
            self._pending = None
            self._armed_at = None

    def _find_trigger(self, start: float, end: float) -> float | None:
        """The first crossing of the trigger level with the trigger slope in [start, end] (what the front end
        shows, no noise); ``self._searched_to`` advances over what was searched."""
        step = min(self.rise_time_s / 2 if self.rise_time_s > 0 else math.inf, DIVISIONS * self.time_scale / 1000)
        step = max(step, 1e-8)
        count = min(int((end - start) / step) + 1, 2_000_000)
        t = start - step + step * np.arange(count + 1, dtype=np.float64)
        v = self._front_end(self.trigger_source, t)
        level = self.trigger_level
        if self.trigger_slope == "POSitive":
            hits = np.nonzero((v[:-1] < level) & (v[1:] >= level))[0]
        else:
            hits = np.nonzero((v[:-1] > level) & (v[1:] <= level))[0]
        self._searched_to = float(t[-1])
        if hits.size == 0:
            return None
        k = int(hits[0])
        lo, hi, v_lo, v_hi = float(t[k]), float(t[k + 1]), float(v[k]), float(v[k + 1])
        for _ in range(TRIGGER_REFINEMENTS):  # the trigger interpolator: the crossing within the step, finer
            if hi - lo <= TRIGGER_RESOLUTION_S:
                break
            grid = np.linspace(lo, hi, 65)
            fine = self._front_end(self.trigger_source, grid)
            if self.trigger_slope == "POSitive":
                inside = np.nonzero((fine[:-1] < level) & (fine[1:] >= level))[0]
            else:
                inside = np.nonzero((fine[:-1] > level) & (fine[1:] <= level))[0]
            if inside.size == 0:
                break
            j = int(inside[0])
            lo, hi, v_lo, v_hi = float(grid[j]), float(grid[j + 1]), float(fine[j]), float(fine[j + 1])
        frac = (level - v_lo) / (v_hi - v_lo) if v_hi != v_lo else 0.0
        return lo + frac * (hi - lo)

    def _front_end(self, channel: int, t: FloatArray) -> FloatArray:
        """The source through the front end's rise time (a moving average over rise / 0.8: 10-90 % = rise)."""
        if self.rise_time_s <= 0:
            return np.asarray(self.source(channel, t), dtype=np.float64)
        taps = 16
        offsets = np.linspace(0.0, self.rise_time_s / 0.8, taps)
        out = np.empty_like(t)
        for i in range(0, t.size, 65_536):
            chunk = t[i : i + 65_536]
            grid = (chunk[:, None] - offsets[None, :]).ravel()
            out[i : i + 65_536] = np.asarray(self.source(channel, grid), dtype=np.float64).reshape(-1, taps).mean(1)
        return out

    def _volts(self, acq: _Acquisition, channel: int) -> FloatArray:
        """The record of ``channel`` in volts (front end and noise), made once per acquisition."""
        if channel not in acq.volts:
            t = acq.t_trigger + acq.x_origin + acq.x_increment * np.arange(acq.points, dtype=np.float64)
            v = self._front_end(channel, t)
            if self.noise_v > 0:
                rng = np.random.default_rng((self.seed, acq.index, channel))
                v = v + rng.normal(0.0, self.noise_v, v.size)
            acq.volts[channel] = v
        return acq.volts[channel]

    # -- transfer ------------------------------------------------------------------------------------------------
    def _quantised(self, acq: _Acquisition, channel: int) -> tuple[npt.NDArray[np.int64], float, float, int]:
        """Codes, yincrement, yorigin, yreference of ``channel`` (codes clip at 1 and the top; 0 means no data)."""
        ch = acq.channels[channel]
        full = 256 if self.format == "BYTE" else 65_536
        y_increment = DIVISIONS * ch.scale / full
        y_reference = full // 2
        codes = np.rint((self._volts(acq, channel) - ch.offset) / y_increment) + y_reference
        return np.clip(codes, 1, full - 1).astype(np.int64), y_increment, ch.offset, y_reference

    def _completed(self) -> _Acquisition:
        self._advance()
        if self.last is None:
            raise ScpiError(-230, "Data corrupt or stale")
        return self.last

    def _preamble(self) -> str:
        acq = self._completed()
        _, y_increment, y_origin, y_reference = self._quantised(acq, self.waveform_source)
        fmt = 0 if self.format == "BYTE" else 1
        return (
            f"{fmt:+d},+0,{acq.points:+d},+1,{acq.x_increment:+.8E},{acq.x_origin:+.8E},+0,"
            f"{y_increment:+.8E},{y_origin:+.8E},{y_reference:+d}"
        )

    def _data(self) -> bytes:
        acq = self._completed()
        codes = self._quantised(acq, self.waveform_source)[0]
        if self.format == "BYTE":
            payload = codes.astype(np.uint8).tobytes()
        else:
            payload = codes.astype(">u2" if self.byte_order == "MSBFirst" else "<u2").tobytes()
        return b"#8" + f"{len(payload):08d}".encode("ascii") + payload + b"\n"

    def _measure(self, arg: str, fn: Callable[[FloatArray, FloatArray], float]) -> str:
        channel = self._source(arg) if arg.strip() else self.waveform_source
        self._advance()
        if self.last is None:
            return f"{NOT_MEASURABLE:+.5E}"
        acq = self.last
        v = self._volts(acq, channel)
        t = acq.x_origin + acq.x_increment * np.arange(acq.points, dtype=np.float64)
        top, base = _levels(v)
        if fn is not _level_top and fn is not _level_base and top - base < acq.channels[channel].scale / 2:
            return f"{NOT_MEASURABLE:+.5E}"  # no edges worth the name: less than half a division of swing
        return f"{fn(v, t):+.5E}"


# -- the measurements, on one record ----------------------------------------------------------------------------
def _levels(v: FloatArray) -> tuple[float, float]:
    """Top and base: the medians of the samples above and below the middle of the 1st..99th percentile span."""
    lo, hi = np.percentile(v, [1, 99])
    mid = (lo + hi) / 2
    above, below = v[v >= mid], v[v < mid]
    top = float(np.median(above)) if above.size else float(mid)
    base = float(np.median(below)) if below.size else float(mid)
    return top, base


def _level_top(v: FloatArray, _t: FloatArray) -> float:
    return _levels(v)[0]


def _level_base(v: FloatArray, _t: FloatArray) -> float:
    return _levels(v)[1]


def _edges(v: FloatArray, t: FloatArray) -> tuple[list[float], list[float]]:
    """Rising and falling edge times at the middle threshold; an edge must pass the 10 % and 90 % levels."""
    top, base = _levels(v)
    if top - base <= 0:
        return [], []
    lower, middle, upper = base + 0.1 * (top - base), (top + base) / 2, base + 0.9 * (top - base)
    state = np.where(v >= upper, 1, np.where(v <= lower, -1, 0))
    idx = np.nonzero(state)[0]
    rising: list[float] = []
    falling: list[float] = []
    for c in np.nonzero(np.diff(state[idx]))[0]:
        i0, i1 = int(idx[c]), int(idx[c + 1])
        seg = v[i0 : i1 + 1] - middle
        k = int(np.nonzero(np.sign(seg[:-1]) != np.sign(seg[1:]))[0][-1]) + i0
        frac = (middle - v[k]) / (v[k + 1] - v[k]) if v[k + 1] != v[k] else 0.0
        when = float(t[k] + frac * (t[k + 1] - t[k]))
        (rising if state[i1] > 0 else falling).append(when)
    return rising, falling


def _frequency_hz(v: FloatArray, t: FloatArray) -> float:
    rising, falling = _edges(v, t)
    edges = rising if len(rising) >= 2 else falling
    if len(edges) < 2:
        return NOT_MEASURABLE
    return float(1.0 / np.mean(np.diff(edges)))


def _duty_pct(v: FloatArray, t: FloatArray) -> float:
    """Positive width / period x 100, averaged over the complete cycles on screen."""
    rising, falling = _edges(v, t)
    duties = []
    for r0, r1 in itertools.pairwise(rising):
        inside = [f for f in falling if r0 < f < r1]
        if inside:
            duties.append((inside[0] - r0) / (r1 - r0))
    if not duties:  # no rising-to-rising cycle: a falling-to-falling one
        for f0, f1 in itertools.pairwise(falling):
            inside = [r for r in rising if f0 < r < f1]
            if inside:
                duties.append(1.0 - (inside[0] - f0) / (f1 - f0))
    if not duties:
        return NOT_MEASURABLE
    return float(100.0 * np.mean(duties))
