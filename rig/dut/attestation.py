"""Device attestation trust: a folder of PAA certificates checked before any Matter traffic, and how a run states
what it trusted.

The CHIP controller trusts exactly the PAAs of the folder it is given (flat ``*.der`` files); an empty folder
fails commissioning, and the test PAAs are trusted only if they are in it. So the folder is the only gate
against a device with a test attestation chain: a network DUT needs a folder holding at least one valid PAA
(a self-signed CA certificate, in its validity period) unless rig.yaml says ``dut.attestation: allow-test-paa``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from rig.errors import SetupError

TEST_PAA_NOTE = "Matter test PAAs trusted (dut.attestation: allow-test-paa): not a certification result"


@dataclass(frozen=True)
class PaaStore:
    """A checked trust store: the folder the controller gets, and the subjects of its PAAs."""

    folder: Path
    subjects: tuple[str, ...]

    def describe(self) -> str:
        """One line for the report: strict trust, the folder and how many PAAs it holds."""
        return f"strict: {len(self.subjects)} PAA(s) of {self.folder}"


def _load(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _problem(cert: x509.Certificate, now: datetime.datetime) -> str | None:
    """Why ``cert`` is not a usable PAA, or None."""
    if cert.issuer != cert.subject:
        return "not self-signed (a PAA is a root: issuer = subject)"
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "no basicConstraints extension (a PAA is a CA)"
    if not basic.ca:
        return "basicConstraints says it is not a CA"
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
    return None


def check_paa_store(folder: Path, *, setting: str = "dut.paa_trust_store") -> PaaStore:
    """Check that ``folder`` holds at least one valid PAA certificate (DER or PEM).

    Raises:
        SetupError: the folder is missing, empty, or holds no valid PAA (each rejected file is named with why).
    """
    if not folder.is_dir():
        raise SetupError(f"{setting} {folder}: not a folder (it must hold PAA certificates, e.g. the DCL's set)")
    now = datetime.datetime.now(datetime.UTC)
    subjects: list[str] = []
    rejected: list[str] = []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".der", ".pem", ".crt"))
    for path in files:
        try:
            cert = _load(path)
        except (OSError, ValueError) as exc:
            rejected.append(f"{path.name}: not a certificate ({exc})")
            continue
        problem = _problem(cert, now)
        if problem is not None:
            rejected.append(f"{path.name}: {problem}")
        else:
            subjects.append(cert.subject.rfc4514_string())
    if not subjects:
        detail = "; ".join(rejected) if rejected else "no *.der, *.pem or *.crt file in it"
        raise SetupError(f"{setting} {folder}: holds no valid PAA certificate ({detail})")
    return PaaStore(folder, tuple(subjects))


def controller_store(store: PaaStore, target: Path) -> Path:
    """The folder the CHIP controller reads (flat DER files): the valid PAAs of ``store`` written as DER."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(store.folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in (".der", ".pem", ".crt"):
            continue
        try:
            cert = _load(path)
        except (OSError, ValueError):
            continue
        if _problem(cert, datetime.datetime.now(datetime.UTC)) is None:
            (target / f"{path.stem}.der").write_bytes(cert.public_bytes(Encoding.DER))
    return target
