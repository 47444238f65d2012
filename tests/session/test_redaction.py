"""Secrets stay secret: setup codes, PIXIT keys and URL passwords are masked in logs; the run's private files are
readable by their owner only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig import sandbox
from rig.config import RigConfig, config_from_dict
from rig.errors import SetupError
from rig.matter.onboarding import manual_pairing_code, qr_payload
from rig.redaction import MASK, redact, redact_url, redacting_logs, secrets_of
from rig.sandbox import SandboxInfo
from rig.session import open_session
from tests.session.test_session import RecordingDut

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PASSCODE = 24681357


def _config(**dut: object) -> RigConfig:
    return config_from_dict(
        {
            "station": {},
            "dut": {
                "kind": "network",
                "attestation": "allow-test-paa",
                "passcode": PASSCODE,
                "discriminator": 1234,
                "pixit": {"test_event_trigger_key": KEY, "extra": {"rfid_pin": "9876", "backup_supply": False}},
                **dut,
            },
        }
    )


def test_the_secrets_of_a_run_are_its_codes_and_keys() -> None:
    found = secrets_of(_config())
    for secret in (str(PASSCODE), manual_pairing_code(PASSCODE, 1234), qr_payload(PASSCODE, 1234), KEY, "9876"):
        assert secret in found
    assert "False" not in found


def test_redact_masks_secrets_and_url_passwords_but_not_longer_numbers() -> None:
    secrets = secrets_of(_config())
    text = (
        f"passcode {PASSCODE} code {manual_pairing_code(PASSCODE, 1234)} key {KEY.upper()} "
        f"db postgresql://rig:s3cr%40t@db.lab:5432/results id 1{PASSCODE}9"
    )
    out = redact(text, secrets)
    assert str(PASSCODE) not in out.replace(f"1{PASSCODE}9", "")
    assert KEY.upper() not in out and "s3cr%40t" not in out
    assert "postgresql://rig:***@db.lab:5432/results" in out
    assert f"1{PASSCODE}9" in out, "a longer number that contains the passcode's digits is left alone"
    assert redact_url("http://host:8080/path") == "http://host:8080/path"


def test_log_records_are_redacted_for_every_handler(caplog: pytest.LogCaptureFixture) -> None:
    secrets = secrets_of(_config(setup_code="MT:Y.K90AFN00KA0648G00"))
    with redacting_logs(secrets):
        logging.getLogger("rig.test").warning("commissioning with %s and key %s", "MT:Y.K90AFN00KA0648G00", KEY)
        logging.getLogger("rig.test").warning("database sqlite? no: %s", "postgres://u:pw123@h/db")
    logging.getLogger("rig.test").warning("after: %s", "plain")
    assert "MT:Y.K90AFN00KA0648G00" not in caplog.text and KEY not in caplog.text and "pw123" not in caplog.text
    assert caplog.text.count(MASK) >= 3
    assert "after: plain" in caplog.text


class LoggingDut(RecordingDut):
    """A DUT kind whose hardware logs the passcode (as matter.js does) and then fails."""

    @contextlib.contextmanager
    def hardware(self, sandbox: SandboxInfo, run_dir: Path | None) -> Iterator[None]:
        logging.getLogger("rig.dut").warning("uncommissioned, passcode: %d key %s", PASSCODE, KEY)
        raise SetupError("stop here")
        yield


def test_a_session_redacts_its_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        async with open_session(_config(), sandbox=SandboxInfo(tmp_path, None, None), dut=LoggingDut([])):
            pass

    with pytest.raises(Exception, match="stop here"):
        asyncio.run(run())
    assert "uncommissioned, passcode: ***" in caplog.text
    assert str(PASSCODE) not in caplog.text and KEY not in caplog.text


def test_the_virtual_evse_config_and_log_are_private(tmp_path: Path) -> None:
    from rig.sim.virtual_evse import _append_private, _write_private

    config, log = tmp_path / "virtual-evse.config.json", tmp_path / "virtual-evse.log"
    log.write_text("from before\n")
    log.chmod(0o644)
    _write_private(config, '{"passcode": 1}')
    with _append_private(log) as f:
        f.write(b"passcode: 1\n")
    for path in (config, log):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert log.read_text() == "from before\npasscode: 1\n"


def test_a_runs_state_folder_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "STATE_ROOT", tmp_path / "run-rig")
    monkeypatch.setattr(sandbox, "DATA_DIR", tmp_path / "data")
    with sandbox.Sandbox("20260101-000000-aaaaaa", with_netns=False, keep_state=True) as sb:
        assert stat.S_IMODE(sb.state_dir.stat().st_mode) == 0o700
    assert sb.state_dir.is_dir(), "kept"
    assert stat.S_IMODE(sb.state_dir.stat().st_mode) == 0o700, "kept, still private"
