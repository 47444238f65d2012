"""atomic_write: the whole new content or the old one, with the mode asked for, and nothing left beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rig.station import atomic_write


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_makes_a_private_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "chip-storage.json"
    atomic_write(target, '{"a": 1}')  # umask is 000 here: the mode is set, not left to the umask
    assert target.read_text() == '{"a": 1}'
    assert mode(target) == 0o600
    assert os.listdir(tmp_path) == ["chip-storage.json"]


def test_atomic_write_replaces_an_open_file_and_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "station.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    with target.open("rb") as reader:  # a reader of the old file keeps the old content: a new inode was renamed in
        atomic_write(target, b"new content")
        assert reader.read() == b"old"
    assert target.read_bytes() == b"new content"
    assert mode(target) == 0o600
    atomic_write(target, b"public", mode=0o644)
    assert mode(target) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["station.json"]


def test_a_failed_atomic_write_removes_its_temporary_file_and_keeps_the_target(tmp_path: Path) -> None:
    target = tmp_path / "duts"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        atomic_write(target, b"cannot replace a folder with a file")
    assert sorted(os.listdir(tmp_path)) == ["duts"]
    assert (target / "keep").read_text() == "x"
