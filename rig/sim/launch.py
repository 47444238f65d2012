"""Starting the virtual bench (plant + instrument servers) as a child process, and stopping it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rig import PROJECT_ROOT
from rig.config import RigConfig
from rig.config.bench import virtual_bench_spec
from rig.errors import ConfigError, SetupError

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------- virtual bench
VIRTUAL_BENCH_START_S = 20.0
CONTROL_FIFO = "control.fifo"
"""The virtual bench's order FIFO in its folder (:mod:`rig.sim.virtual_bench`: an instrument switched off)."""


@contextlib.contextmanager
def virtual_bench(
    config: RigConfig,
    *,
    workdir: Path | None = None,
    evse_port: Path | None = None,
    start_timeout_s: float = VIRTUAL_BENCH_START_S,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``python -m rig.sim.virtual_bench`` serving rig.yaml's roles; yield its ready line; stop it after.

    Args:
        config: a rig.yaml describing the virtual bench (``dut.kind: virtual``).
        workdir: folder for the spec and plant log (default: a temporary folder, removed after).
        evse_port: the virtual EVSE's hardware-port socket, if one runs.
        start_timeout_s: how long to wait for the ready line, s.
        on_event: called (on a thread of its own) with each JSON line the bench prints after its ready line, e.g.
            the EVSE's supply lost or back.

    Raises:
        ConfigError: a role the virtual bench cannot serve.
        SetupError: the virtual bench did not start (its stderr is quoted).
    """
    try:
        spec = virtual_bench_spec(config.instruments, config.ev_emulator)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with serve_spec(
        spec, workdir=workdir, evse_port=evse_port, start_timeout_s=start_timeout_s, on_event=on_event
    ) as ready:
        yield ready


@contextlib.contextmanager
def serve_spec(
    spec: dict[str, Any],
    *,
    workdir: Path | None = None,
    evse_port: Path | None = None,
    start_timeout_s: float = VIRTUAL_BENCH_START_S,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``python -m rig.sim.virtual_bench`` on a bench spec; yield its ready line; stop it after.

    A role without a ``port`` is served on a port the system picks (the server binds port 0): the ready line names
    it, so nothing else can take it between choosing and serving. :func:`instruments_for` turns the ready line into
    rig.yaml's ``instruments`` for the drivers.

    Args:
        spec: the bench spec (:mod:`rig.sim.virtual_bench`).
        workdir: folder for the spec and plant log (default: a temporary folder, removed after).
        evse_port: the virtual EVSE's hardware-port socket, if one runs.
        start_timeout_s: how long to wait for the ready line, s.
        on_event: called (on a thread of its own) with each JSON line the bench prints after its ready line.

    Raises:
        SetupError: the virtual bench did not start (its stderr is quoted).
    """
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rig-vbench-")))
        spec_path = folder / "virtual-bench.json"
        spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        stderr_path = folder / "virtual-bench.log"
        argv = [
            sys.executable,
            "-m",
            "rig.sim.virtual_bench",
            "--spec",
            str(spec_path),
            "--plant-log",
            str(folder / "plant.jsonl"),
            "--control",
            str(folder / CONTROL_FIFO),
        ]
        if evse_port is not None:
            argv += ["--evse-port", str(evse_port)]
        root = str(PROJECT_ROOT)
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        reader: threading.Thread | None = None
        try:
            ready, rest = _read_ready(proc, start_timeout_s, stderr_path)
            if on_event is not None:
                reader = threading.Thread(
                    target=_read_events, args=(proc, rest, on_event), name="virtual-bench-events", daemon=True
                )
                reader.start()
            yield ready
        finally:
            _stop(proc)
            if reader is not None:
                reader.join(timeout=5)  # ends at the end of the bench's output


def instruments_for(ready: dict[str, Any], *, timeout_s: float | None = None) -> dict[str, dict[str, Any]]:
    """Return rig.yaml's ``instruments`` reaching the roles of a ready line at the addresses it names.

    Args:
        ready: the virtual bench's ready line (:func:`serve_spec`, :func:`virtual_bench`).
        timeout_s: every transport's exchange timeout, s (default: each transport kind's own).

    Returns:
        Role -> ``{"driver": ..., "transport": {...}}`` (SCPI roles as raw-socket VISA resources, Modbus roles as
        Modbus TCP with unit 1, the EV board on its python-can interface and channel).
    """
    from rig.sim.virtual_bench import MODBUS_DRIVERS, SCPI_DRIVERS

    instruments: dict[str, dict[str, Any]] = {}
    for role, where in ready["roles"].items():
        driver = where["driver"]
        transport: dict[str, Any]
        if driver in SCPI_DRIVERS:
            transport = {"kind": "visa", "resource": f"TCPIP0::{where['host']}::{where['port']}::SOCKET"}
        elif driver in MODBUS_DRIVERS:
            transport = {"kind": "modbus_tcp", "host": where["host"], "port": where["port"]}
        else:
            transport = {"kind": "can", "interface": where["interface"], "channel": where["channel"]}
        if timeout_s is not None:
            transport["timeout_s"] = timeout_s
        instruments[role] = {"driver": driver, "transport": transport}
    return instruments


def _read_ready(proc: subprocess.Popen[bytes], timeout_s: float, stderr_path: Path) -> tuple[dict[str, Any], bytes]:
    """The ready line, and what was read after it."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    os.set_blocking(proc.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        buffer += chunk
        lines = buffer.split(b"\n")
        for i, line in enumerate(lines[:-1]):  # complete lines only
            with contextlib.suppress(ValueError):
                info = json.loads(line)
                if isinstance(info, dict) and info.get("event") == "ready":
                    return info, b"\n".join(lines[i + 1 :])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = stderr_path.read_text(encoding="utf-8", errors="replace").strip()[-800:]
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready within {timeout_s:g} s"
    raise SetupError(f"virtual bench {state}; its log says: {tail or '(nothing)'}")


def _read_events(proc: subprocess.Popen[bytes], rest: bytes, on_event: Callable[[dict[str, Any]], None]) -> None:
    """Hand each JSON object line of the bench's output (after the ready line) to ``on_event``, until its end."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    pending = rest.split(b"\n")
    buffer = pending.pop()  # an incomplete line, completed by the next read
    lines = iter(pending)
    while True:
        line = next(lines, None)
        if line is None:
            try:
                more = proc.stdout.readline()
            except (OSError, ValueError):  # closed by _stop
                return
            if not more:
                return
            line, buffer = buffer + more.rstrip(b"\n"), b""
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            try:
                on_event(event)
            except Exception:  # the bench goes on; the handler's failure is logged
                log.exception("handling the virtual bench's %s failed", event.get("event"))


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    if proc.stdout is not None:
        proc.stdout.close()
