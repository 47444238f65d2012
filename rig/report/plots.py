"""The report's plots: matplotlib's SVG backend, inlined in the page, byte-identical for the same series.

One chart per ``plot`` group of a case's series (see :func:`rig.pytest_plugin.attach.attach_series`). Up to two
kinds of axis share a chart (left and right): a numeric unit, or states (string values such as pilot ``A``..``F``,
drawn as levels in sorted order); a third kind starts a continued chart. The chart's title, legend (with the units)
and time base are HTML around the SVG (:mod:`rig.report.html`), so the SVG holds only axes, lines and tick labels.

Deterministic output: ``svg.hashsalt`` is set per chart (its position in the report), the metadata (date,
creator) is left out, text stays text (``svg.fonttype: none``), ticks and limits are computed here, not by
matplotlib's locators. The figures are made once per layout and reused (a new figure per chart costs about twice as
much); every property a chart uses is set again for each chart, so the output depends only on the series.
"""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from rig.report.text import clean

W_IN, H_IN, DPI = 7.2, 2.6, 72
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
"""Line colours in order; the HTML legend uses the same order (CSS classes ``c0``..``c5``)."""
MAX_POINTS = 2000
"""Points drawn per series (longer series are thinned evenly; the record keeps them all)."""
PLOT_TITLES = {
    "pilot": "Pilot state and PWM duty over time",
    "current": "EVSE current against the advertised limit",
    "energy": "Meter energy against SessionEnergyCharged",
}
EPOCH_FLOOR = 1e9
"""Times above this are epoch seconds: the chart's caption gives its t = 0 as an ISO UTC time."""

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "text.usetex": False,
    "axes.unicode_minus": False,
    "font.size": 9.0,
    "path.simplify": False,
}
_DROP = re.compile(
    r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<metadata>.*?</metadata>\s*"
    # matplotlib's group ids (figure_1, axes_1, text_3, ...) repeat in every chart and nothing refers to them
    r'| id="(?:figure|axes|patch|line2d|text|xtick|ytick|matplotlib\.axis|legend)_\d+"',
    re.DOTALL,
)


@dataclass(frozen=True)
class Line:
    """One series in a chart's legend."""

    name: str
    unit: str
    """The unit of its axis (``state`` for levels; empty for a number without a unit)."""
    color: int
    """Index into :data:`COLORS`."""
    axis: str
    """``left`` or ``right``."""


@dataclass(frozen=True)
class Chart:
    """One rendered chart: an inline ``<svg>`` (matplotlib's output, trusted markup) and its HTML caption parts."""

    title: str
    svg: str
    lines: tuple[Line, ...]
    t0: float | None
    """The absolute time of the chart's t = 0 (epoch seconds), when its series have epoch times."""


def _kind(series: dict[str, Any]) -> tuple[bool, str]:
    categorical = any(isinstance(p[1], str) for p in series["points"])
    return categorical, "" if categorical else str(series.get("unit") or "")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _valid(points: Any) -> list[Any]:
    """The ``(t, value)`` pairs of a series that can be drawn (a hand-edited record may hold anything)."""
    if not isinstance(points, list):
        return []
    return [
        p
        for p in points
        if isinstance(p, list | tuple) and len(p) == 2 and _number(p[0]) and (isinstance(p[1], str) or _number(p[1]))
    ]


def _thin(points: list[list[Any]]) -> list[list[Any]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    return [points[int(i * stride)] for i in range(MAX_POINTS)] + [points[-1]]


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Return round tick values covering ``lo``..``hi`` (about ``n`` of them)."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks: list[float] = []
    k = first
    while k * step <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(k * step, 10) + 0.0)
        k += 1
    return ticks


def _label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


class _Axis:
    """The scale of one side of a chart: numeric limits and ticks, or the sorted state levels."""

    def __init__(self, series: list[dict[str, Any]]) -> None:
        values = [p[1] for s in series for p in s["points"]]
        self.categorical, self.unit = _kind(series[0])
        if self.categorical:
            self.levels = sorted({str(v) for v in values})
            self.lo, self.hi = -0.5, len(self.levels) - 0.5
            self.ticks = [float(i) for i in range(len(self.levels))]
            self.labels = [clean(lv) for lv in self.levels]
        else:
            nums = [float(v) for v in values if not isinstance(v, str)]
            lo, hi = (min(nums), max(nums)) if nums else (0.0, 1.0)
            if lo == hi:
                lo, hi = lo - 1, hi + 1
            pad = (hi - lo) * 0.05
            self.lo, self.hi = lo - pad, hi + pad
            self.levels = []
            self.ticks = nice_ticks(self.lo, self.hi)
            self.labels = [_label(t) for t in self.ticks]

    def y(self, v: Any) -> float:
        if self.categorical:
            return float(self.levels.index(str(v)))
        return float(v)


class _Figures:
    """The figures charts are drawn on, one per layout (one axis, or two), made once and reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figs: dict[bool, tuple[Any, Any, Any]] = {}

    def get(self, twin: bool) -> tuple[Any, Any, Any]:
        if twin not in self._figs:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(W_IN, H_IN), dpi=DPI)
            fig.patch.set_visible(False)  # transparent: the page is white
            ax = fig.add_axes((0.085, 0.17, 0.83 if twin else 0.895, 0.78))
            ax.patch.set_visible(False)
            ax2 = ax.twinx() if twin else None
            # No axis labels (the units are in the HTML legend, the time base in the caption), at fixed positions:
            # matplotlib then skips measuring every tick label to place them.
            ax.xaxis.set_label_coords(0.5, -0.13)
            ax.yaxis.set_label_coords(-0.065, 0.5)
            ax.spines[["top", "right"]].set_visible(False)
            ax.tick_params(bottom=False, left=False, right=False, top=False)  # labels only: no tick marks to draw
            if ax2 is not None:
                ax2.yaxis.set_label_coords(1.085, 0.5)
                ax2.spines[["top", "left", "bottom"]].set_visible(False)
                ax2.tick_params(right=False, left=False)
            self._figs[twin] = (fig, ax, ax2)
        return self._figs[twin]

    def render(self, axes: list[_Axis], groups: list[list[dict[str, Any]]], t0: float, span: float, salt: str) -> str:
        """Draw ``groups`` (one per axis) on a figure and return its SVG text."""
        import matplotlib as mpl
        from matplotlib.lines import Line2D

        with self._lock, mpl.rc_context({**_RC, "svg.hashsalt": salt}):  # type: ignore[dict-item,unused-ignore]
            fig, ax, ax2 = self.get(len(axes) > 1)
            sides = [ax] if ax2 is None else [ax, ax2]
            for side in sides:
                for ln in list(side.lines):
                    ln.remove()
            color = 0
            for i, (side, axis, group) in enumerate(zip(sides, axes, groups, strict=False)):
                for s in group:
                    pts = _thin(s["points"])
                    line = Line2D(
                        [float(p[0]) - t0 for p in pts],
                        [axis.y(p[1]) for p in pts],
                        color=COLORS[color % len(COLORS)],
                        linewidth=1.4,
                        linestyle="--" if i else "-",
                        drawstyle="steps-post" if s.get("step") else "default",
                    )
                    color += 1
                    side.add_line(line)
                side.set_ylim(axis.lo, axis.hi)
                side.set_yticks(axis.ticks, axis.labels)
            ax.set_xlim(0.0, span)
            xticks = nice_ticks(0.0, span)
            ax.set_xticks(xticks, [_label(t) for t in xticks])
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
        return _DROP.sub("", buf.getvalue()).strip()


_FIGURES = _Figures()


def _chart(title: str, series: list[dict[str, Any]], salt: str, color0: int = 0) -> list[Chart]:
    groups: list[list[dict[str, Any]]] = []
    keys: list[tuple[bool, str]] = []
    for s in series:
        key = _kind(s)
        if key in keys:
            groups[keys.index(key)].append(s)
        else:
            keys.append(key)
            groups.append([s])
    here, rest = groups[:2], [s for g in groups[2:] for s in g]
    times = [float(p[0]) for g in here for s in g for p in s["points"]]
    t0, span = min(times), (max(times) - min(times)) or 1.0
    axes = [_Axis(g) for g in here]
    svg = _FIGURES.render(axes, here, t0, span, salt)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    lines: list[Line] = []
    color = color0
    for i, (axis, group) in enumerate(zip(axes, here, strict=True)):
        for s in group:
            unit = "state" if axis.categorical else axis.unit
            lines.append(
                Line(clean(str(s.get("name") or "")), clean(unit), color % len(COLORS), "left" if i == 0 else "right")
            )
            color += 1
    charts = [Chart(title, svg, tuple(lines), t0 if t0 > EPOCH_FLOOR else None)]
    if rest:
        charts += _chart(f"{title} (continued)", rest, salt + "+", color0)
    return charts


def charts(series: list[dict[str, Any]], salt: str) -> list[Chart]:
    """Return one chart per ``plot`` group of ``series``, in the order the groups first appear.

    Args:
        series: a case's ``series`` from the run record (series without points are left out).
        salt: makes the SVG element ids of these charts unique in the page (e.g. the case's index); the same salt
            and series give the same bytes.
    """
    order: list[str] = []
    by_plot: dict[str, list[dict[str, Any]]] = {}
    for s in series:
        if not isinstance(s, dict):
            continue
        s = {**s, "points": _valid(s.get("points"))}
        if not s["points"]:
            continue
        plot = str(s.get("plot") or s.get("name"))
        if plot not in by_plot:
            order.append(plot)
            by_plot[plot] = []
        by_plot[plot].append(s)
    out: list[Chart] = []
    for n, plot in enumerate(order):
        out += _chart(clean(PLOT_TITLES.get(plot, plot)), by_plot[plot], f"rig-{salt}-{n}")
    return out
