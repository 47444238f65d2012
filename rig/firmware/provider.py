"""The OTA Provider node the rig runs for an install (``virtual_evse/src/ota-provider.js``: matter.js's
``OtaSoftwareUpdateProviderServer`` serving one OTA image over BDX). It runs where the controller runs (inside the
run's sandbox, on the bench network), is commissioned into the station's fabric by the rig's controller, and is
removed from it and stopped after the install.

Its config (setup passcode included) is a file only its owner reads; its log goes beside it. stdout carries JSON
lines: ``ready``, then ``query`` (a requestor asked; whether the image was offered), ``apply`` and ``applied``.

Device attestation (Matter Core 6.2): the provider is the station's own software, not a device under test, and it
attests with a chain of the station's own (:func:`station_chain`: a PAA made once per station, its PAI and the
provider's DAC, in the station's folder). The PAA's and PAI's private keys are not kept (:mod:`rig.sim.attestation`),
so that PAA vouches for the provider's DAC and nothing else; the controller trusts it in ``rig firmware install``
sessions only (``open_session(also_trust=...)``), so the provider is commissioned under ``dut.attestation: strict``
without the matter.js test PAA being trusted, and no DUT is ever checked against it but this provider.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig import PROJECT_ROOT
from rig.errors import SetupError
from rig.sim.attestation import Chain, make_chain

log = logging.getLogger(__name__)

PROVIDER_JS = PROJECT_ROOT / "virtual_evse" / "src" / "ota-provider.js"

PROVIDER_VENDOR_ID = 0xFFF1
PROVIDER_PRODUCT_ID = 0x8001
"""The provider's vendor and product id (``virtual_evse/src/ota-provider.js``); its DAC carries them."""
CHAIN_FOLDER = "ota-provider-attestation"
"""The station's provider chain, in the station's folder."""

INVALID_PASSCODES = {0, 11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 99999999}
INVALID_PASSCODES |= {12345678, 87654321}
"""Passcodes a Matter device must not use (Matter Core 5.1.7.1)."""


def random_passcode() -> int:
    """A valid setup passcode (1..99999998, none of the forbidden ones)."""
    while (code := 1 + secrets.randbelow(99999998)) in INVALID_PASSCODES:
        pass
    return code


def station_chain(station_folder: Path) -> Chain:
    """The provider's attestation chain of this station (made in its folder once, and again only when it no longer
    fits: :func:`rig.sim.attestation.make_chain`)."""
    return make_chain(
        station_folder / CHAIN_FOLDER,
        vendor_id=PROVIDER_VENDOR_ID,
        product_id=PROVIDER_PRODUCT_ID,
        name="rig station OTA provider",
    )


def station_paa(station_folder: Path) -> Path:
    """The folder holding the PAA of the station's provider chain alone: what a session that commissions the
    provider trusts too (``open_session(also_trust=station_paa)``)."""
    return station_chain(station_folder).paa_trust_store


@dataclass(frozen=True)
class ProviderSettings:
    """How the provider is started."""

    image: Path
    folder: Path
    """Its storage, config and log (private to the run)."""
    port: int = 5550
    interface: str | None = None
    """The network interface it advertises on (the one the DUT is reached on); None: every interface."""
    passcode: int = 0
    discriminator: int = 0
    chain: Chain | None = None
    """Its attestation chain (:func:`station_chain`); None: the matter.js test chain."""


class OtaProvider:
    """One provider process: :meth:`start` (waits for ready), :attr:`events` (its JSON lines), :meth:`stop`."""

    def __init__(self, settings: ProviderSettings, start_timeout_s: float = 30.0) -> None:
        if not settings.passcode:
            settings = ProviderSettings(
                settings.image,
                settings.folder,
                settings.port,
                settings.interface,
                random_passcode(),
                secrets.randbelow(4096),
                settings.chain,
            )
        self.settings = settings
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log_path = settings.folder / "ota-provider.log"
        self._reader: threading.Thread | None = None

    def start(self) -> dict[str, Any]:
        """Start it and wait for its ready line; return that line.

        Raises:
            SetupError: Node.js is missing, or it did not start (its log's end in the message).
        """
        s = self.settings
        s.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = s.folder / "ota-provider.config.json"
        body = {
            "storagePath": str(s.folder / "storage"),
            "port": s.port,
            "passcode": s.passcode,
            "discriminator": s.discriminator,
            "image": str(s.image.resolve()),
        }
        if s.interface:
            body["interface"] = s.interface
        if s.chain is not None:
            body["certification"] = s.chain.certification()
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f)
        logfd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            self.proc = subprocess.Popen(
                ["node", str(PROVIDER_JS)],
                stdout=subprocess.PIPE,
                stderr=logfd,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, OTA_PROVIDER_CONFIG=str(config)),
            )
        except FileNotFoundError:
            raise SetupError("Node.js (`node`) is not installed; the OTA provider needs it: run `make setup`") from None
        finally:
            os.close(logfd)
        ready = self._await_ready()
        self._reader = threading.Thread(target=self._read_events, name="ota-provider-stdout", daemon=True)
        self._reader.start()
        log.info("OTA provider ready (pid %s): %s", self.proc.pid, ready.get("image"))
        return ready

    def _await_ready(self) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        buf = b""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SetupError(f"the OTA provider exited with code {proc.returncode} at start: {self._log_tail()}")
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with contextlib.suppress(ValueError):
                    msg = json.loads(line)
                    if isinstance(msg, dict) and msg.get("event") == "ready":
                        return msg
        self.stop()
        raise SetupError(f"the OTA provider did not report ready within {self.start_timeout_s:g} s: {self._log_tail()}")

    def _read_events(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if isinstance(msg, dict):
                    self.events.put(msg)

    def _log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip() or "(no log output)"
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; reaped. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=2)
        if proc.stdout is not None:
            proc.stdout.close()
