"""Bench cases: real cases run by `rig run <path>` from the e2e tests, never collected by the rig's own test run.

They need the run sandbox and the session fixtures of ``rig.pytest_plugin.fixtures`` (bench, evse, evse_events), so
outside a `rig run` (no ``--rig-run-dir``) this folder is ignored. Inside one, the e2e leftover check of
``tests/e2e/conftest.py`` does not apply: it belongs to the test that starts the run, not to the case running inside
it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--rig-run-dir", None):
        return None
    return True


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Overrides the e2e leftover check (the case runs inside the run it would check)."""
    yield
