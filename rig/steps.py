"""Test steps as data, walked in order and completely (mirror of the Matter SDK's ``TestStep`` / ``self.step()``).

A suite declares its steps worded like the test plan and walks them::

    STEPS = [TestStep("1", "Commission DUT to TH", is_commissioning=True),
             TestStep("2", "TH reads State", "NotPluggedIn"),
             TestStep("3", "TH reads UserMaximumChargeCurrent", pics="EEVSE.S.A0009")]

    steps = StepRunner(STEPS, pics=pics)
    steps.step("1")
    ...
    steps.step("3")
    if steps.pics_guard():  # declared pics="EEVSE.S.A0009": skipped unless the DUT's PICS support it
        steps.measure("UserMaximumChargeCurrent", value, "mA", low=0, high=80_000)
    steps.finish()

Rules (as in the SDK): steps run in declared order; an optional step is visibly *skipped*, never silently
absent; :meth:`StepRunner.finish` fails when a declared step was neither run nor skipped. Measurements are named
values with units and limits, recorded with their verdict (OpenHTF style).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from rig.errors import StepError

__all__ = ["Measurement", "Outcome", "PicsLike", "StepRecord", "StepRunner", "TestStep"]


class PicsLike(Protocol):
    """What the runner needs of a PICS (``rig.pics.Pics``)."""

    def check(self, key: str) -> bool:
        """Return True when ``key`` is supported."""

    def why_not(self, key: str) -> str:
        """Return why ``key`` is not supported (a skip reason)."""


Outcome = Literal["passed", "failed", "skipped", "not-run"]
"""Outcome of one step; ``not-run`` also while a step is in progress."""

MeasuredValue = float | int | str | bool | None


@dataclass(frozen=True)
class TestStep:
    """One step of a test-plan case, worded like the test plan.

    Attributes:
        number: the test-plan step number, e.g. ``"3a"``.
        description: what the TH does.
        expectation: what the DUT must do (the verification text).
        pics: PICS code gating an optional step (the runner does not read PICS itself; see ``pics_guard``).
        is_commissioning: the step commissions the DUT.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    number: str
    description: str
    expectation: str = ""
    pics: str | None = None
    is_commissioning: bool = False


@dataclass
class Measurement:
    """A named value with unit and limits, judged when recorded.

    Attributes:
        name: what was measured, e.g. ``"MaximumChargeCurrent"``.
        value: the measured value.
        unit: unit symbol, e.g. ``"mA"``.
        low: inclusive lower limit (numeric values only).
        high: inclusive upper limit (numeric values only).
        expected: the exact value required; ``None`` = no exact expectation.
    """

    name: str
    value: MeasuredValue
    unit: str = ""
    low: float | None = None
    high: float | None = None
    expected: MeasuredValue = None

    @property
    def has_limits(self) -> bool:
        """Get whether any limit or expectation is declared."""
        return self.low is not None or self.high is not None or self.expected is not None

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        """Get ``pass`` when the value meets every declared limit and expectation (no limits = pass)."""
        if self.expected is not None and self.value != self.expected:
            return "fail"
        if self.low is not None or self.high is not None:
            value = self.value
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                return "fail"
            if self.low is not None and value < self.low:
                return "fail"
            if self.high is not None and value > self.high:
                return "fail"
        return "pass"

    def limits_text(self) -> str:
        """Return the declared limits as text, e.g. ``"6000 <= x <= 32000 mA"`` or ``"== 3"``."""
        unit = f" {self.unit}" if self.unit else ""
        parts: list[str] = []
        if self.low is not None and self.high is not None:
            parts.append(f"{self.low:g} <= x <= {self.high:g}{unit}")
        elif self.low is not None:
            parts.append(f"x >= {self.low:g}{unit}")
        elif self.high is not None:
            parts.append(f"x <= {self.high:g}{unit}")
        if self.expected is not None:
            parts.append(f"x == {self.expected!r}")
        return ", ".join(parts) or "no limits"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict including the verdict."""
        return {
            "name": self.name,
            "value": _jsonable(self.value),
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "expected": _jsonable(self.expected),
            "verdict": self.verdict,
        }


@dataclass
class StepRecord:
    """What happened in one declared step.

    Attributes:
        number: step number.
        description: step description.
        expectation: expected result from the test plan.
        pics: PICS code gating the step, if any.
        outcome: ``passed``, ``failed``, ``skipped`` or ``not-run`` (also while in progress).
        started: epoch seconds when the step started (None if it never ran).
        ended: epoch seconds when it ended.
        skip_reason: why it was skipped.
        error: the error text when it failed.
        notes: free-form observations ("actual" results), e.g. ``"State = 1"``.
        measurements: measurements recorded in this step, in order.
    """

    number: str
    description: str
    expectation: str = ""
    pics: str | None = None
    outcome: Outcome = "not-run"
    started: float | None = None
    ended: float | None = None
    skip_reason: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Get the step's duration in seconds (None unless it started and ended)."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "number": self.number,
            "description": self.description,
            "expectation": self.expectation,
            "pics": self.pics,
            "outcome": self.outcome,
            "started": self.started,
            "ended": self.ended,
            "duration": self.duration,
            "skip_reason": self.skip_reason,
            "error": self.error,
            "notes": list(self.notes),
            "measurements": [m.to_dict() for m in self.measurements],
        }


class StepRunner:
    """Walks declared test steps in order and records what happened in each.

    Args:
        steps: the declared steps, in test-plan order.
        pics: the DUT's PICS (from its PICS file, or derived from the DUT); ``pics_guard()`` without a
            condition gates a step on its declared ``pics`` code with it.
        clock: returns epoch seconds; injectable for tests.

    Raises:
        StepError: two steps share a number.
    """

    def __init__(
        self, steps: Sequence[TestStep], *, pics: PicsLike | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._pics = pics
        self._index: dict[str, int] = {}
        for i, declared in enumerate(steps):
            if declared.number in self._index:
                raise StepError(
                    f"step number '{declared.number}' is declared twice (positions {self._index[declared.number] + 1}"
                    f" and {i + 1}); step numbers must be unique"
                )
            self._index[declared.number] = i
        self._steps = tuple(steps)
        self._records = [StepRecord(s.number, s.description, s.expectation, s.pics) for s in self._steps]
        self._pos = -1  # index of the last step started or skipped
        self._current: int | None = None  # index of the step in progress
        self._closed = False
        self.error: str | None = None
        """Error text passed to :meth:`fail` (also when no step was in progress)."""

    # ------------------------------------------------------------------------------------------- properties
    @property
    def steps(self) -> tuple[TestStep, ...]:
        """Get the declared steps."""
        return self._steps

    @property
    def records(self) -> list[StepRecord]:
        """Get one record per declared step, in declared order."""
        return list(self._records)

    @property
    def current(self) -> StepRecord | None:
        """Get the step in progress, or None."""
        return None if self._current is None else self._records[self._current]

    @property
    def failed_step(self) -> StepRecord | None:
        """Get the first failed step, or None."""
        return next((r for r in self._records if r.outcome == "failed"), None)

    @property
    def finished(self) -> bool:
        """Get whether :meth:`finish` or :meth:`fail` closed the runner."""
        return self._closed

    # ------------------------------------------------------------------------------------------------ walking
    def step(self, number: str) -> StepRecord:
        """End the current step (passed unless already skipped/failed) and start step ``number``.

        Raises:
            StepError: ``number`` is not the next declared step still to do, or the runner is finished.
        """
        index = self._expect_next(number, "step")
        self._end_current()
        record = self._records[index]
        record.started = self._clock()
        self._pos = self._current = index
        return record

    def skip(self, number: str, reason: str) -> None:
        """Mark the next declared step ``number`` skipped without running it; ends the current step.

        Raises:
            StepError: ``number`` is not the next declared step still to do.
        """
        index = self._expect_next(number, "skip")
        self._end_current()
        self._mark_skipped(self._records[index], reason)
        self._pos = index

    def skip_current(self, reason: str) -> None:
        """Mark the step in progress skipped (it ends when the next step starts or at finish)."""
        self._mark_skipped(self._require_current("skip_current"), reason)

    def skip_remaining(self, reason: str) -> None:
        """Mark every declared step after the current position skipped (the current step is unaffected)."""
        self._check_open("skip_remaining")
        for record in self._records[self._pos + 1 :]:
            if record.outcome == "not-run" and record.started is None:
                self._mark_skipped(record, reason)
        self._pos = len(self._records) - 1

    def pics_guard(self, condition: bool | None = None, reason: str = "") -> bool:
        """Mark the step in progress skipped unless it applies; return whether it applies.

        Args:
            condition: None (the usual form): the step applies when the runner's PICS support the step's declared
                ``pics`` code, and the skip reason is the PICS' own (``Pics.why_not``). A bool: an explicit
                condition (a behaviour branch of the test plan rather than a PICS item).
            reason: why it is skipped when ``condition`` is a bool; the step's PICS code is added when declared.

        Raises:
            StepError: ``condition`` is None but the step declares no PICS code or the runner has no PICS.
        """
        record = self._require_current("pics_guard")
        code = self._steps[self._index[record.number]].pics
        if condition is None:
            if not code:
                raise StepError(f"pics_guard() on step '{record.number}', which declares no PICS code")
            if self._pics is None:
                raise StepError(f"pics_guard() on step '{record.number}' needs the runner's PICS (StepRunner(pics=))")
            if self._pics.check(code):
                return True
            self._mark_skipped(record, self._pics.why_not(code))
            return False
        if not condition:
            if code:
                text = f"{reason} (PICS {code} not supported)" if reason else f"PICS {code} not supported"
            else:
                text = reason or "condition for this optional step not met"
            self._mark_skipped(record, text)
        return condition

    def note(self, text: str) -> None:
        """Add an observation ("actual" result) to the step in progress."""
        self._require_current("note").notes.append(text)

    def measure(
        self,
        name: str,
        value: MeasuredValue,
        unit: str = "",
        low: float | None = None,
        high: float | None = None,
        expected: MeasuredValue = None,
    ) -> Measurement:
        """Record a measurement on the step in progress and judge it.

        Raises:
            AssertionError: the value is outside its limits or differs from ``expected`` (it stays recorded).
        """
        record = self._require_current("measure")
        measurement = Measurement(name, value, unit, low, high, expected)
        record.measurements.append(measurement)
        if measurement.verdict == "fail":
            unit_text = f" {unit}" if unit else ""
            raise AssertionError(
                f"step '{record.number}': measurement '{name}' = {value!r}{unit_text} "
                f"fails its limits ({measurement.limits_text()})"
            )
        return measurement

    def fail(self, error: BaseException | str) -> None:
        """Mark the step in progress failed with ``error`` and close the runner (unrun steps stay not-run)."""
        if isinstance(error, BaseException):
            text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        else:
            text = error
        self.error = text
        if self._current is not None:
            record = self._records[self._current]
            record.outcome = "failed"
            record.error = text
            if record.ended is None:
                record.ended = self._clock()
            self._current = None
        self._closed = True

    def finish(self) -> None:
        """End the current step and check completeness; does nothing after :meth:`fail`.

        Raises:
            StepError: declared steps were neither run nor skipped (they stay ``not-run``).
        """
        if self._closed:
            if self.error is None:
                self._raise_if_incomplete()
            return
        self._end_current()
        self._closed = True
        self._raise_if_incomplete()

    def to_dicts(self) -> list[dict[str, Any]]:
        """Return every record as a JSON-ready dict, in declared order."""
        return [r.to_dict() for r in self._records]

    # ------------------------------------------------------------------------------------------------ helpers
    def _step_list(self) -> str:
        return ", ".join(self._index)

    def _check_open(self, what: str) -> None:
        if self._closed:
            cause = f"after a failure ({self.error})" if self.error is not None else "after finish()"
            raise StepError(f"{what}() called {cause}; the step runner is closed")

    def _expect_next(self, number: str, what: str) -> int:
        self._check_open(what)
        number = str(number)
        expected = next(
            (i for i in range(self._pos + 1, len(self._records)) if self._records[i].outcome == "not-run"),
            None,
        )
        if expected is not None and self._records[expected].number == number:
            return expected
        want = f"'{self._records[expected].number}'" if expected is not None else "no more steps (all are done)"
        unknown = f"; '{number}' is not declared" if number not in self._index else ""
        raise StepError(
            f"step '{number}' called out of order: expected {want} (TC step list: {self._step_list()}{unknown})"
        )

    def _require_current(self, what: str) -> StepRecord:
        self._check_open(what)
        if self._current is None:
            raise StepError(f"{what}() needs a step in progress: call steps.step(...) first")
        return self._records[self._current]

    def _end_current(self) -> None:
        if self._current is None:
            return
        record = self._records[self._current]
        if record.outcome == "not-run":
            record.outcome = "passed"
        if record.ended is None:
            record.ended = self._clock()
        self._current = None

    @staticmethod
    def _mark_skipped(record: StepRecord, reason: str) -> None:
        record.outcome = "skipped"
        record.skip_reason = reason

    def _raise_if_incomplete(self) -> None:
        missing = [r.number for r in self._records if r.outcome == "not-run"]
        if missing:
            raise StepError(
                f"not all steps were run: {', '.join(missing)} (run them, or mark them with skip(), "
                "pics_guard() or skip_remaining())"
            )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
