"""Progress in the terminal during a run: case, step, elapsed time.

On a terminal the current step is one live line, rewritten in place; elsewhere (a CI log, ``rig run`` piped)
every case start, step and case end is a plain line::

    [rig] (1/2) TC-EEVSE-2.2  Primary functionality with DUT as Server
    [rig]   TC-EEVSE-2.2 step 3a  TH reads from the DUT the State attribute  +4.1 s
    [rig] (1/2) TC-EEVSE-2.2 PASSED in 21.7 s (run 0:25)

Steps are seen by wrapping the case's :class:`rig.steps.StepRunner` instance (``step`` and ``skip``) when the
call phase starts: the runner itself has no callback (a one-line ``on_step`` hook in ``rig/steps.py`` would let
this go). Writes during the call phase go around pytest's output capture.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

PREFIX = "[rig]"
DESCRIPTION_WIDTH = 90
"""Step descriptions are cut to this many characters (the report has them in full)."""


class Progress:
    """A pytest plugin object printing case and step progress.

    Args:
        config: the pytest config (for the terminal reporter and the capture manager).
        mode: ``auto`` (live line on a TTY, else plain), ``tty`` or ``plain``.
        runner_of: returns a case's step runner, if it has one (the plugin knows where it is kept).
    """

    def __init__(
        self, config: pytest.Config, mode: str = "auto", runner_of: Callable[[pytest.Item], Any] | None = None
    ) -> None:
        self._config = config
        self._runner_of = runner_of
        self._mode = mode
        self._t0 = time.monotonic()
        self._case_t0 = self._t0
        self._index = 0
        self._total = 0
        self._case = ""
        self._live = False  # a live (unterminated) line is on screen
        self._outcome = "passed"

    @property
    def live(self) -> bool:
        """Get whether steps are shown as one live line (a terminal) rather than plain lines."""
        if self._mode != "auto":
            return self._mode == "tty"
        tr = self._config.pluginmanager.get_plugin("terminalreporter")
        return bool(tr is not None and getattr(tr, "isatty", False)) and sys.stdout.isatty()

    # -- output ------------------------------------------------------------------------------------------
    def _write(self, text: str, *, transient: bool = False) -> None:
        tr = self._config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return
        capman = self._config.pluginmanager.get_plugin("capturemanager")
        ctx = capman.global_and_fixture_disabled() if capman is not None else _Null()
        with ctx:
            if transient:
                if not self._live:
                    tr.ensure_newline()
                width = max(20, tr._tw.fullwidth - 1)
                tr._tw.write("\r\x1b[K" + text[:width], flush=True)
                self._live = True
            else:
                self._clear(tr)
                if tr._tw.width_of_current_line and not getattr(tr, "currentfspath", None):
                    tr._tw.line()  # after pytest's "." (write_line only breaks lines it knows of)
                tr.write_line(text)

    def _clear(self, tr: Any) -> None:
        if self._live:
            tr._tw.write("\r\x1b[K", flush=True)
            self._live = False

    def elapsed_text(self) -> str:
        """Return the run's elapsed time as ``m:ss``."""
        s = int(time.monotonic() - self._t0)
        return f"{s // 60}:{s % 60:02d}"

    # -- hooks ---------------------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._total = len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._index += 1
        self._case_t0 = time.monotonic()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        tc = item.get_closest_marker("tc")
        self._case = str(tc.args[0]) if tc and tc.args else item.nodeid
        title = str(tc.args[1]) if tc and len(tc.args) > 1 else ""
        self._write(f"{PREFIX} ({self._index}/{self._total}) {self._case}  {title}".rstrip())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        runner = self._runner_of(item) if self._runner_of is not None else None
        if runner is not None:
            self._hook_runner(runner)
        return (yield)

    def _hook_runner(self, runner: Any) -> None:
        step: Callable[[str], Any] = runner.step
        skip: Callable[[str, str], None] = runner.skip

        def on_step(number: str) -> Any:
            record = step(number)
            self.step_started(number, record.description)
            return record

        def on_skip(number: str, reason: str) -> None:
            skip(number, reason)
            self.step_started(number, f"skipped: {reason}")

        runner.step = on_step
        runner.skip = on_skip

    def step_started(self, number: str, description: str) -> None:
        """Show that step ``number`` of the current case started."""
        dt = time.monotonic() - self._case_t0
        if len(description) > DESCRIPTION_WIDTH:
            description = description[: DESCRIPTION_WIDTH - 1] + "…"
        text = f"{PREFIX}   {self._case} step {number}  {description}  +{dt:.1f} s"
        if self.live:
            self._write(f"{text}  (run {self.elapsed_text()})", transient=True)
        else:
            self._write(text)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tr = self._config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            self._clear(tr)
        if report.when == "teardown":
            dt = time.monotonic() - self._case_t0
            self._write(
                f"{PREFIX} ({self._index}/{self._total}) {self._case} {self._outcome.upper()} in {dt:.1f} s "
                f"(run {self.elapsed_text()})"
            )
            self._outcome = "passed"
        elif report.failed:
            self._outcome = "failed" if report.when == "call" else "error"
        elif report.skipped and self._outcome == "passed":
            self._outcome = "skipped"


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
