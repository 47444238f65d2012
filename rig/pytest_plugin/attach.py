"""What a suite attaches to its case for the report: measured series (plots) and files (captures).

    from rig.pytest_plugin.attach import attach_file, attach_series

    attach_series(request, "PWM duty", "%", points, plot="pilot", step=True)
    attach_file(request, scope_capture_path)

Both stash the data on the test item (:mod:`rig.pytest_plugin.state` keys); :mod:`rig.pytest_plugin.reporting` puts
it in the run record at the end of the case, and the report plots the series and links the files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rig.pytest_plugin.state import ATTACH_KEY, SERIES_KEY


def _item(request_or_item: Any) -> Any:
    return getattr(request_or_item, "node", request_or_item)


def attach_series(
    request_or_item: Any,
    name: str,
    unit: str,
    points: Iterable[Sequence[Any]],
    *,
    plot: str | None = None,
    step: bool = False,
) -> None:
    """Attach a time series to the current case; the HTML report plots it.

    Args:
        request_or_item: the test's ``request`` fixture or its item.
        name: what was sampled, e.g. ``"PWM duty"``, ``"EVSE current"``, ``"SessionEnergyCharged"``.
        unit: unit symbol, e.g. ``"%"``, ``"A"``, ``"Wh"`` (empty for states).
        points: ``(t, value)`` pairs; ``t`` in seconds (epoch or any origin: plots start at the earliest t);
            ``value`` a number, or a string for states (e.g. pilot ``"A"``..``"F"``, drawn as levels).
        plot: series with the same ``plot`` share one chart (e.g. ``"pilot"``: pilot state and PWM duty;
            ``"current"``: EVSE current and advertised limit; ``"energy"``: meter energy and
            SessionEnergyCharged); default: the series' own chart.
        step: draw as a step function (states, set-points).

    Raises:
        ValueError: a point is not a ``(number, number|string)`` pair.
    """
    clean: list[list[Any]] = []
    for p in points:
        if len(p) != 2 or isinstance(p[0], bool) or not isinstance(p[0], int | float):
            raise ValueError(f"series {name!r}: point {p!r} is not a (t, value) pair with a numeric t")
        t, v = float(p[0]), p[1]
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise ValueError(f"series {name!r}: value {v!r} must be a number or a string")
        if not math.isfinite(t) or (isinstance(v, float) and not math.isfinite(v)):
            continue
        clean.append([t, v])
    item = _item(request_or_item)
    item.stash.setdefault(SERIES_KEY, []).append(
        {"name": name, "unit": unit, "plot": plot or name, "step": bool(step), "points": clean}
    )


def attach_file(request_or_item: Any, path: Path | str, name: str | None = None) -> None:
    """Attach a file to the current case; the record keeps its path relative to the run folder.

    A file outside the run folder is copied into ``<run folder>/attachments/<case>/`` at the end of the case.
    """
    item = _item(request_or_item)
    p = Path(path)
    item.stash.setdefault(ATTACH_KEY, []).append({"name": name or p.name, "source": str(p.resolve())})
