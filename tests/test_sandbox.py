"""Sandbox preflight: a machine that cannot host a run gets one message naming everything missing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

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


# -- nothing outlives the run ------------------------------------------------------------------------------------

_WATCHED = """
import os, subprocess, sys
from pathlib import Path
from rig import sandbox
state = Path(sys.argv[1])
left = subprocess.Popen(["sleep", "60"], env={**os.environ, sandbox.ENV_SANDBOX: str(state)})
sandbox._start_watcher(state, False)
print(left.pid, flush=True)
os.execvp("sleep", ["sleep", "60"])
"""


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_watcher_ends_what_the_process_inside_leaves_when_it_is_killed(tmp_path) -> None:
    """The process inside the sandbox is SIGKILLed: its watcher ends every process that carries the run's marker."""
    root = Path(__file__).resolve().parents[1]
    inner = subprocess.Popen(
        [sys.executable, "-c", _WATCHED, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert inner.stdout is not None
        left = int(inner.stdout.readline())
        watcher = int((tmp_path / "watcher.pid").read_text())
        assert not _gone(left) and not _gone(watcher)
        inner.send_signal(signal.SIGKILL)
        inner.wait(10)
        assert _wait_gone(left, sandbox.WATCHER_GRACE_S + 3), "a process of the run outlived it"
        assert _wait_gone(watcher, 3), "the watcher outlived its work"
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait(10)


def test_a_process_that_must_die_with_its_parent_gets_sigterm_when_the_parent_is_killed() -> None:
    root = Path(__file__).resolve().parents[1]
    parent_script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, sys, time\\n"
        "from rig.sandbox import die_with_parent\\n"
        "die_with_parent(signal.SIGTERM)\\n"
        "print(1, flush=True)\\n"
        "time.sleep(60)'], stdout=sys.stdout)\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True, cwd=root)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "1"  # the child has set its parent-death signal
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    assert _wait_gone(child, 5), "the child outlived its killed parent"


def test_a_killed_runs_sandbox_is_not_reaped_while_its_process_inside_still_tears_down(monkeypatch, tmp_path) -> None:
    """`rig run` killed: the process inside drives the bench to its safe state; the next run must not end it."""
    root = tmp_path / "run-rig"
    monkeypatch.setattr(sandbox, "STATE_ROOT", root)
    monkeypatch.setattr(sandbox, "remove_netns", lambda ns: None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = root / "20260101-000000-aaaaaa"
    state.mkdir(parents=True)
    (state / "owner.pid").write_text(str(dead.pid))
    tearing_down = subprocess.Popen(["sleep", "30"])
    try:
        (state / "inner.pid").write_text(str(tearing_down.pid))
        assert sandbox.reap_stale() == []
        assert state.is_dir()
    finally:
        tearing_down.kill()
        tearing_down.wait()
    assert sandbox.reap_stale() == ["20260101-000000-aaaaaa"]
    assert not state.exists()


def test_a_run_whose_processes_are_zombies_is_reaped(monkeypatch, tmp_path) -> None:
    """Orphans of a killed `rig run` may stay zombies (nobody reaps them): they have ended all the same."""
    root = tmp_path / "run-rig"
    monkeypatch.setattr(sandbox, "STATE_ROOT", root)
    monkeypatch.setattr(sandbox, "remove_netns", lambda ns: None)
    zombie = subprocess.Popen(["true"])  # not waited for: a zombie until the end of this test
    try:
        assert _wait_gone(zombie.pid, 5)
        state = root / "20260101-000000-bbbbbb"
        state.mkdir(parents=True)
        (state / "inner.pid").write_text(str(zombie.pid))
        assert sandbox.reap_stale() == ["20260101-000000-bbbbbb"]
    finally:
        zombie.wait()
