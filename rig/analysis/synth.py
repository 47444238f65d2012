"""Synthesised captures with a known truth: the pilot (EVSE generator x EV level), a gated sine, a marker step.

What a virtual scope can hand to the analysis, and what the analysis' own tests and benchmark measure against.
Levels change at exact instants between samples: each sample is the mean of the ideal signal over its sample interval
(area sampling, so no edge is rounded to the sample grid), then smoothed by two moving averages (a symmetric S-shaped
edge with the requested 10-90 % rise time; its 50 % point stays at the instant). Noise is Gaussian, from the
``rng`` given (default: a generator seeded with 0, so a capture is the same on every run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rig.analysis.waveform import FloatArray, Waveform

GeneratorMode = Literal["dc", "pwm", "negative"]

TRIANGLE_RISE_PER_WIDTH = 0.5528
"""10-90 % rise time of an edge smoothed by two moving averages of width W/2 each (a triangle of base W), per W:
1 - 2 sqrt(0.05)."""


@dataclass(frozen=True)
class GeneratorStep:
    """From ``t_s`` on, the EVSE's pilot generator does ``mode``.

    Attributes:
        t_s: when, s.
        mode: ``dc`` (+12 V: the pilot sits at the EV's level), ``pwm`` (each period starts with its high phase at
            ``t_s``), ``negative`` (-12 V, state F).
        duty_pct: PWM duty cycle, %.
        frequency_hz: PWM frequency, Hz.
    """

    t_s: float
    mode: GeneratorMode
    duty_pct: float = 50.0
    frequency_hz: float = 1000.0


def smoothing_width(rise_s: float, sample_interval: float) -> int:
    """Return the odd width, in samples, of each of the two moving averages that give a ``rise_s`` edge."""
    width = round(rise_s / TRIANGLE_RISE_PER_WIDTH / 2 / sample_interval)
    return max(1, width + (1 - width % 2))


def piecewise(
    start_s: float,
    sample_interval: float,
    count: int,
    steps: Sequence[tuple[float, float]],
    *,
    rise_s: float = 0.0,
) -> FloatArray:
    """Sample a signal that jumps to ``level`` at each ``(t_s, level)`` (in order; the first gives the level before
    as well), area-sampled and smoothed to ``rise_s``."""
    times = np.array([s[0] for s in steps], dtype=np.float64)
    values = np.array([s[1] for s in steps], dtype=np.float64)
    if times.size == 0 or np.any(np.diff(times) < 0):
        raise ValueError("steps must be given, in time order")
    x0 = start_s - sample_interval / 2  # sample i covers [x0 + i dt, x0 + (i + 1) dt)
    bounds = np.arange(count + 1, dtype=np.float64) * sample_interval
    rel = times - x0
    jumps = np.diff(values)
    at = rel[1:]
    # integral from x0 of the step signal: values[0] x + sum of jumps[j] x max(0, x - at[j])
    k = np.searchsorted(at, bounds, side="right")
    cum_jump = np.concatenate(([0.0], np.cumsum(jumps)))
    cum_moment = np.concatenate(([0.0], np.cumsum(jumps * at)))
    integral = values[0] * bounds + cum_jump[k] * bounds - cum_moment[k]
    samples: FloatArray = np.diff(integral) / sample_interval
    if rise_s > 0:
        width = smoothing_width(rise_s, sample_interval)
        samples = _moving_average(_moving_average(samples, width), width)
    return samples


def _moving_average(x: FloatArray, width: int) -> FloatArray:
    if width <= 1:
        return x
    half = width // 2
    padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    sums = np.concatenate(([0.0], np.cumsum(padded)))
    out: FloatArray = (sums[width:] - sums[:-width]) / width
    return out


def pilot_steps(
    generator: Sequence[GeneratorStep],
    ev_levels: Sequence[tuple[float, float]],
    end_s: float,
    *,
    low_v: float = -12.0,
    negative_v: float = -12.0,
) -> list[tuple[float, float]]:
    """The pilot's level changes up to ``end_s``: the generator's high phase shows the EV's level (``ev_levels``:
    ``(t_s, volts)`` in order, the first holding before as well), its low phase ``low_v``, state F ``negative_v``."""
    gen_times: list[float] = []
    gen_state: list[int] = []  # 1 high (EV level), 0 low, -1 negative
    for i, step in enumerate(generator):
        until = generator[i + 1].t_s if i + 1 < len(generator) else end_s
        if step.mode == "dc":
            gen_times.append(step.t_s)
            gen_state.append(1)
        elif step.mode == "negative":
            gen_times.append(step.t_s)
            gen_state.append(-1)
        else:
            period = 1.0 / step.frequency_hz
            starts = step.t_s + np.arange(max(0, math.ceil((until - step.t_s) / period))) * period
            for s in starts:
                fall = float(s + step.duty_pct / 100.0 * period)
                gen_times += [float(s), fall] if fall < until else [float(s)]  # the next step cuts a high phase
                gen_state += [1, 0] if fall < until else [1]
    ev_t = [t for t, _ in ev_levels]
    changes = sorted({*gen_times, *ev_t[1:]})
    out: list[tuple[float, float]] = []
    for t in [min(gen_times[0], ev_t[0]), *changes]:
        g = gen_state[max(0, int(np.searchsorted(gen_times, t, side="right")) - 1)]
        ev = ev_levels[max(0, int(np.searchsorted(ev_t, t, side="right")) - 1)][1]
        level = ev if g == 1 else (low_v if g == 0 else negative_v)
        if not out or out[-1][1] != level:
            out.append((t, level))
    return out


def pilot_capture(
    start_s: float,
    duration_s: float,
    sample_interval: float,
    generator: Sequence[GeneratorStep],
    ev_levels: Sequence[tuple[float, float]],
    *,
    rise_s: float = 5e-6,
    noise_v: float = 0.0,
    rng: np.random.Generator | None = None,
    channel: str = "CP",
    low_v: float = -12.0,
) -> Waveform:
    """A pilot capture: the generator's steps against the EV's levels (see :func:`pilot_steps`)."""
    count = int(duration_s / sample_interval) + 1
    steps = pilot_steps(generator, ev_levels, start_s + duration_s + sample_interval, low_v=low_v)
    v = piecewise(start_s, sample_interval, count, steps, rise_s=rise_s)
    return Waveform.uniform(_noisy(v, noise_v, rng), sample_interval, start_s=start_s, channel=channel)


def step_capture(
    start_s: float,
    duration_s: float,
    sample_interval: float,
    steps: Sequence[tuple[float, float]],
    *,
    rise_s: float = 1e-6,
    noise_v: float = 0.0,
    rng: np.random.Generator | None = None,
    channel: str = "MARK",
) -> Waveform:
    """A marker or relay-drive channel: levels jumping at known instants (see :func:`piecewise`)."""
    count = int(duration_s / sample_interval) + 1
    v = piecewise(start_s, sample_interval, count, steps, rise_s=rise_s)
    return Waveform.uniform(_noisy(v, noise_v, rng), sample_interval, start_s=start_s, channel=channel)


def gated_sine(
    start_s: float,
    duration_s: float,
    sample_interval: float,
    on: Sequence[tuple[float, float]],
    *,
    peak_v: float = 325.0,
    frequency_hz: float = 50.0,
    phase_rad: float = 0.0,
    noise_v: float = 0.0,
    rng: np.random.Generator | None = None,
    channel: str = "L1",
) -> Waveform:
    """An AC output switched on for each ``(on_s, off_s)`` interval (instantly, at whatever phase), else 0 V."""
    count = int(duration_s / sample_interval) + 1
    t = start_s + np.arange(count, dtype=np.float64) * sample_interval
    gate = np.zeros(count, dtype=bool)
    for a, b in on:
        gate |= (t >= a) & (t < b)
    v = np.where(gate, peak_v * np.sin(2 * math.pi * frequency_hz * t + phase_rad), 0.0)
    return Waveform(t, _noisy(v, noise_v, rng), channel, sample_interval)


def _noisy(v: FloatArray, noise_v: float, rng: np.random.Generator | None) -> FloatArray:
    if noise_v <= 0:
        return v
    generator = rng if rng is not None else np.random.default_rng(0)  # reproducible unless told otherwise
    noisy: FloatArray = v + generator.normal(0.0, noise_v, v.size)
    return noisy
