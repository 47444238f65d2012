"""Fixtures of the robustness corpus: a case folder holding a valid rig.yaml (the repository's) to start from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """A folder with the repository's rig.yaml (the virtual bench) and nothing else: each case adds its input."""
    shutil.copy(REPO / "rig.yaml", tmp_path / "rig.yaml")
    return tmp_path
