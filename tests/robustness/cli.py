"""Running the real ``rig`` command line in-process on one hostile input, bounded in time.

:func:`run_rig` calls :func:`rig.cli.main` with stdout and stderr captured and a wall-clock alarm (SIGALRM, which
also interrupts a blocking ``open`` or ``read``): a hang ends the call with :class:`Hung` instead of the test run.
Anything escaping ``main`` (a traceback a user would see) is returned as text with ``escaped`` set. Starting a run
(the sandbox) fails at once with :class:`StartedARun`: a hostile input that gets that far was accepted.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import rig.cli.run
import rig.session
from rig.cli import main

CASE_TIMEOUT_S = 5.0
"""No hostile input may keep a command busy longer."""


class Hung(Exception):
    """The command did not return within CASE_TIMEOUT_S."""


@dataclass
class Outcome:
    """What a command gave: exit code, stdout, stderr, and whether an exception escaped ``main``."""

    code: int
    out: str
    err: str
    escaped: bool

    @property
    def error_lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.err.splitlines() if line.strip()]


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(_signum: int, _frame: object) -> None:
        raise Hung(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _environ(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class StartedARun(AssertionError):
    """A hostile input got as far as starting a run (it should have been refused before)."""


@contextlib.contextmanager
def _no_run() -> Iterator[None]:
    """Make starting a run (the sandbox, the DUT) fail at once: no case of the corpus may get that far."""

    def refuse(*_args: object, **_kwargs: object) -> int:
        raise StartedARun("the input was accepted: the command started a run")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rig.cli.run, "run_in_sandbox", refuse)
        mp.setattr(rig.session, "run_in_sandbox", refuse)
        yield


def run_rig(
    argv: list[str], *, cwd: Path, env: Mapping[str, str | None] | None = None, timeout: float = CASE_TIMEOUT_S
) -> Outcome:
    """Run ``rig ARGV`` in ``cwd``; never longer than ``timeout`` (:class:`Hung` then)."""
    out, err = io.StringIO(), io.StringIO()
    escaped = False
    here = Path.cwd()
    os.chdir(cwd)
    try:
        with (
            _no_run(),
            _environ({"RIG_RESULTS_DB": None, **(env or {})}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            _alarm(timeout),
        ):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
            except Hung:
                raise
            except BaseException:
                escaped = True
                err.write(traceback.format_exc())
                code = -1
    finally:
        os.chdir(here)
    return Outcome(code, out.getvalue(), err.getvalue(), escaped)


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder under ``folder``: relative path -> (mode, size, first bytes); what a command wrote
    (or half wrote) shows as a difference."""
    found: dict[str, tuple[int, int, bytes]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            head = b""
            if p.is_file() and not p.is_symlink():
                with p.open("rb") as fh:
                    head = fh.read(4096)
            found[str(p.relative_to(folder))] = (st.st_mode, st.st_size, head)
    return found
