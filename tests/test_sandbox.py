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
