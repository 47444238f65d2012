"""Secrets out of logs, records and reports: the DUT's setup passcode and setup code (and the pairing codes made
from them), the PIXIT's test event trigger enable key and secret-looking PIXIT values, and URL passwords.

:func:`secrets_of` lists a run's secrets from its rig.yaml; :func:`redact` replaces them in a text with
:data:`MASK`; :func:`redacting_logs` makes every log record of the process redacted from its creation on (so every
handler, pytest's captured logs and the report's included, sees the redacted text).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rig.config import RigConfig

MASK = "***"
SECRET_NAMES = re.compile(r"key|pass|secret|token|pin|code", re.IGNORECASE)
"""PIXIT ``extra`` names whose values are secrets."""
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?P<tail>@)")


def secrets_of(config: RigConfig) -> list[str]:
    """The secrets of the run ``config`` describes, as they may appear in a text."""
    from rig.matter.onboarding import manual_pairing_code, qr_payload

    dut = config.dut
    found: list[str] = [str(dut.passcode)]
    with contextlib.suppress(ValueError):
        found.append(manual_pairing_code(dut.passcode, dut.discriminator))
        found.append(qr_payload(dut.passcode, dut.discriminator))
    if dut.setup_code:
        found.append(dut.setup_code)
        found.append(dut.setup_code.replace("-", "").replace(" ", ""))
    key = dut.pixit.test_event_trigger_key
    if key:
        found += [key, key.lower(), key.upper()]
    for name, value in dut.pixit.extra.items():
        if SECRET_NAMES.search(str(name)) and isinstance(value, str | int) and len(str(value)) >= 4:
            found.append(str(value))
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it masked."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (digits only where they stand alone) and every URL password masked."""
    out = redact_url(text)
    for secret in secrets:
        pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
        out = re.sub(pattern, MASK, out)
    return out


@contextlib.contextmanager
def redacting_logs(secrets: Iterable[str]) -> Iterator[None]:
    """While open: every log record is created with its message formatted and redacted (see :func:`redact`)."""
    listed = sorted(set(secrets), key=len, reverse=True)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format: logging reports it as it would have
            return record
        clean = redact(message, listed)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)
