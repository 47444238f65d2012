"""Inline SVG line charts for the report: hand-written, no plotting library, deterministic output.

One chart per ``plot`` group of series (see :func:`rig.report.record.attach_series`). Up to two units share a
chart (left and right axis); string values (states such as pilot ``A``..``F``) are drawn as levels on their own
axis, in sorted order.
"""

from __future__ import annotations

from html import escape
from typing import Any

W, H = 720, 260
ML, MR, MT, MB = 64, 64, 40, 36  # margins: left, right, top, bottom
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MAX_POINTS = 2000
"""Points drawn per series (longer series are thinned evenly; the record keeps them all)."""


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** _floor_log10(raw)
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = step * _ceil_div(lo, step)
    ticks: list[float] = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _floor_log10(x: float) -> int:
    import math

    return math.floor(math.log10(x)) if x > 0 else 0


def _ceil_div(a: float, b: float) -> int:
    import math

    return math.ceil(a / b - 1e-9)


def _label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


class _Axis:
    def __init__(self, series: list[dict[str, Any]]) -> None:
        values = [p[1] for s in series for p in s["points"]]
        self.categorical = any(isinstance(v, str) for v in values)
        self.unit = series[0]["unit"]
        if self.categorical:
            self.levels = sorted({str(v) for v in values})
            self.lo, self.hi = -0.5, len(self.levels) - 0.5
        else:
            nums = [float(v) for v in values]
            lo, hi = (min(nums), max(nums)) if nums else (0.0, 1.0)
            if lo == hi:
                lo, hi = lo - 1, hi + 1
            pad = (hi - lo) * 0.05
            self.lo, self.hi = lo - pad, hi + pad
            self.levels = []

    def y(self, v: Any) -> float:
        if self.categorical:
            v = float(self.levels.index(str(v))) if str(v) in self.levels else self.lo
        return MT + (H - MT - MB) * (1 - (float(v) - self.lo) / (self.hi - self.lo))

    def ticks(self) -> list[tuple[float, str]]:
        if self.categorical:
            return [(self.y(lv), lv) for lv in self.levels]
        return [(self.y(t), _label(t)) for t in _nice_ticks(self.lo, self.hi)]


def _thin(points: list[list[Any]]) -> list[list[Any]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    return [points[int(i * stride)] for i in range(MAX_POINTS)] + [points[-1]]


def chart(title: str, series: list[dict[str, Any]]) -> str:
    """Return an inline ``<svg>`` chart of ``series`` (same time base) titled ``title``."""
    series = [s for s in series if s.get("points")]
    if not series:
        return ""
    t0 = float(min(p[0] for s in series for p in s["points"]))
    t1 = float(max(p[0] for s in series for p in s["points"]))
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return ML + (W - ML - MR) * (t - t0) / span

    # axes: first unit/kind left, a second one right; further units share the left axis' scale per series
    groups: list[list[dict[str, Any]]] = []
    for s in series:
        key = ("str" if any(isinstance(p[1], str) for p in s["points"]) else "num", s["unit"])
        for g in groups:
            gk = ("str" if any(isinstance(p[1], str) for p in g[0]["points"]) else "num", g[0]["unit"])
            if gk == key:
                g.append(s)
                break
        else:
            groups.append([s])
    axes = [_Axis(g) for g in groups]
    out = [
        f'<svg class="rig-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}"'
        f' role="img" aria-label="{escape(title)}">',
        f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="#fff" stroke="#999"/>',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for tx in _nice_ticks(0.0, span):
        px = x(t0 + tx)
        out.append(
            f'<line x1="{_fmt(px)}" y1="{H - MB}" x2="{_fmt(px)}" y2="{H - MB + 4}" stroke="#999"/>'
            f'<text x="{_fmt(px)}" y="{H - MB + 16}" text-anchor="middle" font-size="10">{_label(tx)}</text>'
        )
    out.append(f'<text x="{W / 2}" y="{H - 4}" text-anchor="middle" font-size="11">time (s)</text>')
    for side, axis in enumerate(axes[:2]):
        ax = ML if side == 0 else W - MR
        anchor, dx = ("end", -6) if side == 0 else ("start", 6)
        for py, text in axis.ticks():
            out.append(
                f'<line x1="{ML}" y1="{_fmt(py)}" x2="{W - MR}" y2="{_fmt(py)}" stroke="#eee"/>' if side == 0 else ""
            )
            out.append(
                f'<text x="{ax + dx}" y="{_fmt(py + 3)}" text-anchor="{anchor}" font-size="10">{escape(text)}</text>'
            )
        unit = escape(axis.unit or ("state" if axis.categorical else ""))
        ux = 14 if side == 0 else W - 10
        out.append(
            f'<text x="{ux}" y="{H / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 {ux} {H / 2})">{unit}</text>'
        )
    color = 0
    legend: list[str] = []
    for gi, group in enumerate(groups):
        axis = axes[gi] if gi < 2 else _Axis(group)
        for s in group:
            c = COLORS[color % len(COLORS)]
            color += 1
            pts = _thin(s["points"])
            coords: list[str] = []
            prev_y: float | None = None
            for t, v in pts:
                px, py = x(t), axis.y(v)
                if s.get("step") and prev_y is not None:
                    coords.append(f"{_fmt(px)},{_fmt(prev_y)}")
                coords.append(f"{_fmt(px)},{_fmt(py)}")
                prev_y = py
            dash = ' stroke-dasharray="6 3"' if gi % 2 else ""
            out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5"{dash} points="{" ".join(coords)}"/>')
            unit = f" ({s['unit']})" if s["unit"] else ""
            legend.append(f'<tspan fill="{c}">■ {escape(s["name"] + unit)}</tspan>  ')
    out.append(f'<text x="{ML}" y="{MT - 6}" font-size="11">{"".join(legend)}</text>')
    out.append("</svg>")
    return "".join(out)


PLOT_TITLES = {
    "pilot": "Pilot state and PWM duty over time",
    "current": "EVSE current against the advertised limit",
    "energy": "Meter energy against SessionEnergyCharged",
}


def charts(series: list[dict[str, Any]]) -> list[str]:
    """Return one chart per ``plot`` group, in the order the groups first appear."""
    order: list[str] = []
    by_plot: dict[str, list[dict[str, Any]]] = {}
    for s in series:
        plot = str(s.get("plot") or s.get("name"))
        if plot not in by_plot:
            order.append(plot)
            by_plot[plot] = []
        by_plot[plot].append(s)
    return [c for c in (chart(PLOT_TITLES.get(p, p), by_plot[p]) for p in order) if c]
