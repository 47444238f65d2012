"""Sandbox preflight: a machine that cannot host a run gets one message naming everything missing."""

from __future__ import annotations

import pytest

from rig import sandbox
from rig.errors import SetupError


def test_preflight_names_every_missing_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name in ("ip", "node") else f"/usr/bin/{name}")
    with pytest.raises(SetupError) as exc:
        sandbox.preflight(need_netns=True, need_node=True)
    text = str(exc.value)
    assert "root privileges" in text
    assert "`ip` command" in text and "iproute2" in text
    assert "Node.js" in text


def test_preflight_for_a_real_dut_needs_neither_ip_nor_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name in ("ip", "node") else f"/usr/bin/{name}")
    sandbox.preflight(need_netns=False, need_node=False)


def test_run_ids_are_unique_and_sortable() -> None:
    ids = {sandbox.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i.split("-")) == 3 for i in ids)


def test_sandbox_command_enters_netns_then_private_mounts() -> None:
    sb = sandbox.Sandbox("20260101-000000-abcdef")
    cmd = sb.command(["pytest", "-q"])
    assert cmd[:4] == ["ip", "netns", "exec", "rig-20260101-000000-abcdef"]
    assert cmd[4:8] == ["unshare", "--mount", "--propagation", "private"]
    assert cmd[-3:] == ["--", "pytest", "-q"]
    assert sandbox.Sandbox("x", with_netns=False).command(["true"])[0] == "unshare"


def test_overlapping_runs_remove_the_data_folder_only_when_the_last_ends(monkeypatch, tmp_path) -> None:
    """/data (the CHIP wheel's fixed path) is created by the first run when missing and removed by whichever run ends
    last, also when the run that created it ends first."""
    root, data = tmp_path / "run-rig", tmp_path / "data"
    monkeypatch.setattr(sandbox, "STATE_ROOT", root)
    monkeypatch.setattr(sandbox, "DATA_DIR", data)
    first = sandbox.Sandbox("20260101-000000-aaaaaa", with_netns=False)
    second = sandbox.Sandbox("20260101-000000-bbbbbb", with_netns=False)
    first.__enter__()
    assert data.is_dir(), "created by the first run"
    second.__enter__()
    first.close()
    assert data.is_dir(), "the second run still needs it"
    second.close()
    assert not data.exists() and not root.exists(), "removed with the last run, and the state root with it"


def test_an_existing_data_folder_is_left_alone(monkeypatch, tmp_path) -> None:
    root, data = tmp_path / "run-rig", tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(sandbox, "STATE_ROOT", root)
    monkeypatch.setattr(sandbox, "DATA_DIR", data)
    run = sandbox.Sandbox("20260101-000000-cccccc", with_netns=False)
    with run:
        pass
    assert data.is_dir() and not root.exists()
