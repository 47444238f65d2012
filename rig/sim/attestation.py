"""A device attestation chain of the rig's own (PAA → PAI → DAC), for the virtual EVSE as a network DUT.

It is not the Matter test PAA: a controller trusts it only when given the chain's PAA folder as its trust store,
as it would trust a manufacturer's PAA from the DCL. The certificates follow the Matter core specification, 6.2.2
(Device Attestation Certificate formats), and the checks of the SDK's attestation verifier
(``DefaultDeviceAttestationVerifier.cpp``, ``VerifyAttestationCertificateFormat`` in ``CHIPCryptoPALOpenSSL.cpp``):

* X.509 v3, ECDSA P-256 keys, signed with ecdsa-with-SHA256;
* PAA: self-signed; basicConstraints critical, CA, pathlen 1; keyUsage critical, keyCertSign and cRLSign; subject
  key identifier; authority key identifier (= its own); subject with the Matter VID attribute (no PID: a PAA
  carrying a PID is refused);
* PAI: issued by the PAA; basicConstraints critical, CA, pathlen 0; keyUsage critical, keyCertSign and cRLSign;
  subject key identifier; authority key identifier = the PAA's; subject with the VID (the verifier requires it);
* DAC: issued by the PAI; basicConstraints critical, not a CA, no pathlen; keyUsage critical, digitalSignature
  only; subject key identifier; authority key identifier = the PAI's; subject with the VID and the PID;
* VID and PID subject attributes (OIDs 1.3.6.1.4.1.37244.2.1 and .2.2) are UTF8Strings of 4 uppercase hex digits;
* key identifiers are the SHA-1 of the public key (RFC 5280 4.2.1.2, method 1), 20 bytes;
* all three start being valid at the same instant, an hour before they are made (the verifier checks the PAI and
  PAA at the DAC's notBefore and the DAC at the current time); the DAC has no well-defined expiry
  (notAfter 9999-12-31 23:59:59 UTC, as 6.2.2 allows).

Files of a chain folder: ``paa/paa.der`` (the folder ``paa/`` is a PAA trust store: the PAA alone), ``pai.der``,
``dac.der`` and ``dac-key.der`` (the DAC's private key, PKCS #8 DER, mode 0600). The PAA and PAI keys are not kept:
nothing signs with them after the chain is made, and a chain that no longer fits is made afresh.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rig.errors import SetupError

VID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37244.2.1")
"""Matter Vendor ID subject attribute (Matter core specification 6.2.2.2)."""
PID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37244.2.2")
"""Matter Product ID subject attribute (Matter core specification 6.2.2.2)."""

NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
"""The notAfter of a certificate without a well-defined expiration date (RFC 5280 4.1.2.5)."""
PAA_YEARS = 25
PAI_YEARS = 20
BACKDATE = datetime.timedelta(hours=1)
"""How long before it is made a chain starts being valid (clocks of other machines may lag)."""


@dataclass(frozen=True)
class Chain:
    """The files of an attestation chain made by :func:`make_chain`."""

    folder: Path
    vendor_id: int
    product_id: int

    @property
    def paa_trust_store(self) -> Path:
        """The folder holding the PAA alone: what a controller is given as its PAA trust store."""
        return self.folder / "paa"

    @property
    def paa(self) -> Path:
        """The PAA certificate (DER)."""
        return self.paa_trust_store / "paa.der"

    @property
    def pai(self) -> Path:
        """The PAI certificate (DER)."""
        return self.folder / "pai.der"

    @property
    def dac(self) -> Path:
        """The DAC certificate (DER)."""
        return self.folder / "dac.der"

    @property
    def dac_key(self) -> Path:
        """The DAC's private key (PKCS #8 DER, mode 0600)."""
        return self.folder / "dac-key.der"

    def certification(self) -> dict[str, str]:
        """The virtual EVSE's ``certification`` config: the paths of the DAC key, the DAC and the PAI."""
        return {"privateKey": str(self.dac_key), "certificate": str(self.dac), "intermediateCertificate": str(self.pai)}


def hex_id(value: int) -> str:
    """A VID or PID as the subject attribute holds it: 4 uppercase hex digits."""
    return f"{value:04X}"


def _name(common_name: str, vendor_id: int, product_id: int | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(VID_OID, hex_id(vendor_id))]
    if product_id is not None:
        attributes.append(x509.NameAttribute(PID_OID, hex_id(product_id)))
    return x509.Name(attributes)


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    public = key.public_key()
    key_usage = x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _mint(vendor_id: int, product_id: int, name: str) -> tuple[bytes, bytes, bytes, bytes]:
    """A new chain: PAA, PAI and DAC (DER) and the DAC key (PKCS #8 DER)."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    start = now - BACKDATE
    paa_key, pai_key, dac_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    paa_name = _name(f"{name} PAA", vendor_id)
    pai_name = _name(f"{name} PAI 0x{hex_id(vendor_id)}", vendor_id)
    dac_name = _name(f"{name} DAC 0x{hex_id(vendor_id)}/0x{hex_id(product_id)}", vendor_id, product_id)
    paa = _certificate(
        paa_name,
        paa_key,
        paa_name,
        paa_key,
        ca=True,
        path_length=1,
        not_before=start,
        not_after=start.replace(year=start.year + PAA_YEARS),
    )
    pai = _certificate(
        pai_name,
        pai_key,
        paa_name,
        paa_key,
        ca=True,
        path_length=0,
        not_before=start,
        not_after=start.replace(year=start.year + PAI_YEARS),
    )
    dac = _certificate(
        dac_name, dac_key, pai_name, pai_key, ca=False, path_length=None, not_before=start, not_after=NO_EXPIRY
    )
    der = serialization.Encoding.DER
    key = dac_key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return paa.public_bytes(der), pai.public_bytes(der), dac.public_bytes(der), key


def _subject_id(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> int | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    if not isinstance(value, str) or len(value) != 4 or value != value.upper():
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def chain_problem(chain: Chain) -> str | None:
    """Why the files of ``chain`` are not a valid chain for its vendor and product id now, or None.

    Checks the signatures (PAA self-signed, PAI by the PAA, DAC by the PAI), the VID and PID subject attributes,
    that the DAC key is the DAC's and that the DAC is valid now.
    """
    try:
        paa = x509.load_der_x509_certificate(chain.paa.read_bytes())
        pai = x509.load_der_x509_certificate(chain.pai.read_bytes())
        dac = x509.load_der_x509_certificate(chain.dac.read_bytes())
        key = serialization.load_der_private_key(chain.dac_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        return f"unreadable: {exc}"
    try:
        paa.verify_directly_issued_by(paa)
        pai.verify_directly_issued_by(paa)
        dac.verify_directly_issued_by(pai)
    except (ValueError, TypeError, InvalidSignature) as exc:
        return f"the signatures do not chain: {exc}"
    ids = {
        "PAA VID": (_subject_id(paa, VID_OID), chain.vendor_id),
        "PAI VID": (_subject_id(pai, VID_OID), chain.vendor_id),
        "DAC VID": (_subject_id(dac, VID_OID), chain.vendor_id),
        "DAC PID": (_subject_id(dac, PID_OID), chain.product_id),
    }
    for what, (found, wanted) in ids.items():
        if found != wanted:
            return f"{what} is {found if found is None else hex_id(found)}, not {hex_id(wanted)}"
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != dac.public_key():
        return f"{chain.dac_key.name} is not the key of {chain.dac.name}"
    now = datetime.datetime.now(datetime.UTC)
    if not dac.not_valid_before_utc < now < dac.not_valid_after_utc:
        return "the DAC is not valid now"
    return None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it), with ``mode``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def make_chain(folder: Path, *, vendor_id: int, product_id: int, name: str = "Rig Lab") -> Chain:
    """The attestation chain in ``folder`` for ``vendor_id``/``product_id``, made there unless a valid one is.

    A chain already in the folder is reused when it is valid for this vendor and product id (see
    :func:`chain_problem`); otherwise a new one replaces it, PAA included (a controller must then be given the new
    trust store). ``name`` starts the certificates' common names.

    Raises:
        SetupError: ``folder`` cannot be made or written, or the ids are out of range.
    """
    if not 0 < vendor_id <= 0xFFFE:
        raise SetupError(f"vendor id 0x{vendor_id:X} out of range 0x0001..0xFFFE")
    if not 0 < product_id <= 0xFFFF:
        raise SetupError(f"product id 0x{product_id:X} out of range 0x0001..0xFFFF")
    chain = Chain(folder.resolve(), vendor_id, product_id)
    if chain_problem(chain) is None:
        return chain
    try:
        chain.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        chain.paa_trust_store.mkdir(exist_ok=True)
        paa, pai, dac, key = _mint(vendor_id, product_id, name)
        _write(chain.dac_key, key, 0o600)
        _write(chain.dac, dac, 0o644)
        _write(chain.pai, pai, 0o644)
        _write(chain.paa, paa, 0o644)
    except OSError as exc:
        raise SetupError(f"cannot write the attestation chain in {folder}: {exc}") from exc
    return chain
