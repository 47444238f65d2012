"""Fixtures of the station tests: a station folder in the test's own tmp folder, the wheel-made fixture stores."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.station import Station

DATA = Path(__file__).parent / "data"
STORES = ("chip-storage.json", "chip-storage-ca10.json")
"""Stores the real CHIP wheel made (data/README.md): CA index 1 / fabric id 1, and CA index 10 / a 40-bit fabric id."""


def facts(store: str) -> dict[str, Any]:
    """What the wheel reported about a fixture store (root public key, compressed fabric id, CA index, fabric id)."""
    data: dict[str, Any] = json.loads((DATA / store.replace(".json", ".facts.json")).read_text())
    return data


def install_store(station: Station, store: str = STORES[0]) -> bytes:
    """Copy a fixture store into the station (mode 0600) and return its bytes."""
    shutil.copyfile(DATA / store, station.storage_path)
    os.chmod(station.storage_path, 0o600)
    return station.storage_path.read_bytes()


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """Run each test with umask 000: the modes the station sets must not depend on the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A station folder that does not exist yet, two levels below the test's folder."""
    tmp_path.chmod(0o700)
    return tmp_path / "lib" / "bench-1"


@pytest.fixture
def station(folder: Path) -> Station:
    """A station (not opened) on :func:`folder`."""
    return Station(folder, "bench-1")
