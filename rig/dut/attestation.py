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


TEST_PAA_AKIDS = {
    "785CE705B86B8F4E6FC793AA60CB43EA696882D5": "Matter Test PAA (NoVID)",
    "6AFD22771F511FECBF1641976710DCDC31A1717E": "Matter Test PAA FFF1",
}
"""Authority key ids of the Matter test PAAs: a PAI signed by one is a test device (the SDK's TC_DA_1_7 denylist)."""


@dataclass(frozen=True)
class AttestationChain:
    """The DUT's DAC and PAI (read with CertificateChainRequest) and the PAA of the trust store that signs the PAI."""

    dac_subject: str
    pai_subject: str
    paa_subject: str | None
    test_paa: str | None
    """The name of the Matter test PAA the PAI chains to, or None."""

    def to_record(self) -> dict[str, str | None]:
        """The run record's ``dut.attestation_chain``."""
        return {"dac": self.dac_subject, "pai": self.pai_subject, "paa": self.paa_subject, "test_paa": self.test_paa}


def _key_id(cert: x509.Certificate, ext: type[x509.AuthorityKeyIdentifier | x509.SubjectKeyIdentifier]) -> str | None:
    try:
        value = cert.extensions.get_extension_for_class(ext).value
    except x509.ExtensionNotFound:
        return None
    raw = value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else value.digest
    return raw.hex().upper() if raw else None


def describe_chain(dac_der: bytes, pai_der: bytes, trust_store: Path | None) -> AttestationChain:
    """Subjects of the DUT's DAC and PAI, the trust store's PAA whose key id is the PAI's authority key id, and whether
    that is a Matter test PAA.

    Raises:
        ValueError: a certificate the DUT sent does not parse (its text is not shown: it is the DUT's).
    """
    dac = x509.load_der_x509_certificate(dac_der)
    pai = x509.load_der_x509_certificate(pai_der)
    akid = _key_id(pai, x509.AuthorityKeyIdentifier)
    paa_subject = None
    if trust_store is not None and trust_store.is_dir() and akid:
        for path in sorted(trust_store.iterdir()):
            try:
                paa = _load(path)
            except (OSError, ValueError):
                continue
            if _key_id(paa, x509.SubjectKeyIdentifier) == akid:
                paa_subject = paa.subject.rfc4514_string()
                break
    return AttestationChain(
        dac.subject.rfc4514_string(), pai.subject.rfc4514_string(), paa_subject, TEST_PAA_AKIDS.get(akid or "")
    )
