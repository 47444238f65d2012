"""Start, stop and restart the virtual EVSE (``virtual_evse/``, a real Matter device on matter.js).

The process is configured with one JSON file (matter.js parses argv itself), announces readiness with a JSON
line on stdout and logs to stderr, which goes to a log file in the run's folder.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.errors import DutError, SetupError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EVSE_DIR = PROJECT_ROOT / "virtual_evse"
MAIN_JS = EVSE_DIR / "src" / "main.js"
EXPORT_PAA_JS = EVSE_DIR / "src" / "export-paa.js"


@dataclass
class VirtualEvseSettings:
    """Everything the virtual EVSE is started with (see virtual_evse/README.md for the meaning)."""

    storage_path: Path
    port: int = 5540
    passcode: int = 20202021
    discriminator: int = 3840
    interface: str | None = None
    features: list[str] = field(default_factory=lambda: ["PREF", "SOC", "PNC", "RFID", "V2X"])
    optional: dict[str, bool] = field(default_factory=dict)
    enable_key: str = "000102030405060708090a0b0c0d0e0f"
    defects: list[str] = field(default_factory=list)
    hardware_port: Path | None = None
    hardware: dict[str, float] = field(default_factory=dict)
    vendor_id: int = 0xFFF1
    product_id: int = 0x8000
    serial_number: str = "VEVSE-0001"
    software_version: int = 1
    software_version_string: str = "1.0.0"
    log_level: str = "notice"

    def to_json(self) -> dict[str, Any]:
        """The JSON config understood by virtual_evse/src/main.js."""
        cfg: dict[str, Any] = {
            "storagePath": str(self.storage_path),
            "port": self.port,
            "passcode": self.passcode,
            "discriminator": self.discriminator,
            "features": list(self.features),
            "optional": {
                "userMaximumChargeCurrent": self.optional.get("user_maximum_charge_current", True),
                "randomizationDelayWindow": self.optional.get("randomization_delay_window", True),
                "approximateEvEfficiency": self.optional.get("approximate_ev_efficiency", True),
                "startDiagnostics": self.optional.get("start_diagnostics", True),
            },
            "enableKey": self.enable_key,
            "defects": list(self.defects),
            "vendorId": self.vendor_id,
            "productId": self.product_id,
            "serialNumber": self.serial_number,
            "softwareVersion": self.software_version,
            "softwareVersionString": self.software_version_string,
            "logLevel": self.log_level,
        }
        if self.interface:
            cfg["interface"] = self.interface
        if self.hardware_port:
            cfg["hardwarePort"] = str(self.hardware_port)
        if self.hardware:
            cfg["hardware"] = dict(self.hardware)
        return cfg


def check_installed() -> None:
    """Raise SetupError unless node and the virtual EVSE's npm packages are installed."""
    if shutil.which("node") is None:
        raise SetupError("Node.js (`node`) is not installed; the virtual EVSE needs it: run `make setup`")
    if not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir():
        raise SetupError(
            f"the virtual EVSE's packages are not installed in {EVSE_DIR / 'node_modules'}: run `make setup`"
        )


def export_paa(target: Path, timeout_s: float = 30.0) -> Path:
    """Write the test PAA that signs the virtual EVSE's attestation chain into ``target`` (DER files)."""
    check_installed()
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["node", str(EXPORT_PAA_JS), str(target)], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0 or not any(target.glob("*.der")):
        raise DutError(f"could not export the virtual EVSE's test PAA: {proc.stderr.strip()[-2000:]}")
    return target


class VirtualEvse:
    """One virtual EVSE process.

    Args:
        settings: how to start it.
        log_path: file receiving the process's stderr (matter.js log).
        start_timeout_s: bound on the wait for the ready line.
    """

    def __init__(self, settings: VirtualEvseSettings, log_path: Path, start_timeout_s: float = 30.0) -> None:
        self.settings = settings
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_info: dict[str, Any] = {}
        self._config_path = log_path.with_suffix(".config.json")

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, fresh: bool = True) -> dict[str, Any]:
        """Start the process and wait for its ready line; ``fresh`` wipes the storage first."""
        check_installed()
        if self.running:
            raise DutError("the virtual EVSE is already running")
        if fresh and self.settings.storage_path.exists():
            shutil.rmtree(self.settings.storage_path)
        self.settings.storage_path.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(json.dumps(self.settings.to_json(), indent=2))
        env = dict(os.environ, VEVSE_CONFIG=str(self._config_path))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as errlog:
            self.proc = subprocess.Popen(
                ["node", str(MAIN_JS)], stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL, env=env
            )
        self.ready_info = self._await_ready()
        self._start_drain()
        log.info("virtual EVSE ready (pid %s): %s", self.proc.pid, self.ready_info)
        return self.ready_info

    def _await_ready(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DutError(
                    f"the virtual EVSE exited with code {self.proc.returncode} before it was ready: "
                    f"{self._log_tail()}"
                )
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("event") == "ready":
                    return msg
        self.stop()
        raise DutError(
            f"the virtual EVSE did not report ready within {self.start_timeout_s:g} s: {self._log_tail()}"
        )

    def _start_drain(self) -> None:
        """Keep reading the process's stdout (JSON lines: events, triggers, outputs) into a file beside the log.

        Nothing else reads the pipe after the ready line; left alone it would fill and stall the EVSE.
        """
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        path = self.log_path.with_suffix(".jsonl")

        def drain() -> None:
            with path.open("ab") as sink:
                for line in iter(out.readline, b""):
                    sink.write(line)
                    sink.flush()

        self._drain = threading.Thread(target=drain, name="virtual-evse-stdout", daemon=True)
        self._drain.start()

    def _log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip() or "(no log output)"
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout_s`` for the PID to exit (restart races), then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        drain = getattr(self, "_drain", None)
        if drain is not None:
            drain.join(timeout=2)  # ends at EOF, once the process has exited
            self._drain = None
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    def restart(self) -> dict[str, Any]:
        """Power-cycle: stop the process, start it again on the same storage (non-volatile state kept)."""
        self.stop()
        return self.start(fresh=False)
