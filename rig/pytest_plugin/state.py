"""What the plugin's modules share, in one place: the stash keys of the run and of each case.

The modules of :mod:`rig.pytest_plugin` never import each other; they meet here.
"""

from __future__ import annotations

from typing import Any

import pytest

from rig.config import RigConfig
from rig.pics.run import PicsRunState
from rig.session import Session
from rig.steps import StepRunner

CONFIG_KEY = pytest.StashKey[RigConfig]()
"""The validated rig.yaml of the run (set at configure time)."""
SESSION_KEY = pytest.StashKey[Session]()
"""The open session (bench, DUT, controller), once the first case needs it."""
PICS_KEY = pytest.StashKey[PicsRunState]()
"""The run's PICS: which decided, what they skipped, contradictions with the DUT."""

RUNNER_KEY = pytest.StashKey[StepRunner]()
"""Per case: its step runner."""
EVENTS_KEY = pytest.StashKey[list[Any]]()
"""Per case: the events its subscription received."""
SERIES_KEY = pytest.StashKey[list[dict[str, Any]]]()
"""Per case: measured series for plots."""
ATTACH_KEY = pytest.StashKey[list[dict[str, str]]]()
"""Per case: files to attach to the record."""

INTERRUPTED_PREFIX = "interrupted"


def run_was_interrupted(session: pytest.Session) -> bool:
    """Whether an interrupt (Ctrl-C, SIGTERM) inside a case stopped the session."""
    return isinstance(session.shouldstop, str) and session.shouldstop.startswith(INTERRUPTED_PREFIX)


LOSS_SUFFIX = "(on_loss: stop)"


def run_was_stopped_by_loss(session: pytest.Session) -> bool:
    """Whether an instrument or the DUT lost during a case stopped the session (rig.yaml's ``on_loss: stop``): the
    run ends as one with a failed case, not as an interrupted one."""
    return isinstance(session.shouldstop, str) and session.shouldstop.endswith(LOSS_SUFFIX)


def case_id(item: pytest.Item) -> str | None:
    """The test-plan id of ``item`` (its ``tc`` marker), e.g. ``TC-EEVSE-2.1``."""
    tc = item.get_closest_marker("tc")
    return str(tc.args[0]) if tc is not None and tc.args else None


def case_pics(item: pytest.Item) -> list[str]:
    """The PICS codes of every ``pics`` marker on ``item`` (closest first), without duplicates."""
    codes: list[str] = []
    for marker in item.iter_markers("pics"):
        codes += [str(c) for c in marker.args if str(c) not in codes]
    return codes


INNER_SET_ENV = "RIG_INNER_SET"
"""Environment variable through which ``rig run`` hands its ``--set`` overrides (a JSON object) to the inner pytest;
the environment, unlike the command line, is not readable by other local users."""
