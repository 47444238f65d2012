"""Strict attestation: a network DUT needs a trust store holding a valid PAA; test PAAs only when rig.yaml says so,
and every run states what it trusted."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from rig.config import RigConfig, config_from_dict
from rig.dut import NetworkDut, VirtualDut, dut_for
from rig.dut.attestation import TEST_PAA_NOTE, check_paa_store, controller_store
from rig.errors import ConfigError, SetupError
from rig.sandbox import SandboxInfo

NOW = datetime.datetime.now(datetime.UTC)


def _cert(
    name: str,
    *,
    ca: bool | None = True,
    issuer: str | None = None,
    days: tuple[int, int] = (-1, 3650),
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]) if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + datetime.timedelta(days=days[0]))
        .not_valid_after(NOW + datetime.timedelta(days=days[1]))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, *, pem: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(cert.public_bytes(Encoding.PEM if pem else Encoding.DER))


def test_a_folder_with_one_valid_paa_passes_and_names_its_subject(tmp_path: Path) -> None:
    store = tmp_path / "paa"
    _write(store, "good.der", _cert("Lab PAA 1"))
    _write(store, "also-good.pem", _cert("Lab PAA 2"), pem=True)
    _write(store, "leaf.der", _cert("Some DAC", ca=False))
    checked = check_paa_store(store)
    assert checked.subjects == ("CN=Lab PAA 2", "CN=Lab PAA 1")
    out = controller_store(checked, tmp_path / "run-paa")
    assert sorted(p.name for p in out.iterdir()) == ["also-good.der", "good.der"]


@pytest.mark.parametrize(
    ("name", "cert", "why"),
    [
        ("pai.der", _cert("A PAI", issuer="Lab PAA"), "not self-signed"),
        ("leaf.der", _cert("A DAC", ca=False), "basicConstraints says it is not a CA"),
        ("noext.der", _cert("No constraints", ca=None), "no basicConstraints"),
        ("old.der", _cert("Expired PAA", days=(-3650, -1)), "not valid now"),
    ],
)
def test_a_folder_without_a_valid_paa_is_refused_naming_each_file(
    tmp_path: Path, name: str, cert: x509.Certificate, why: str
) -> None:
    _write(tmp_path, name, cert)
    (tmp_path / "junk.der").write_bytes(b"not a certificate")
    with pytest.raises(SetupError) as err:
        check_paa_store(tmp_path)
    text = str(err.value)
    assert "dut.paa_trust_store" in text and str(tmp_path) in text
    assert f"{name}: {why}" in text and "junk.der: not a certificate" in text


def test_an_empty_or_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match=r"no \*\.der, \*\.pem or \*\.crt file"):
        check_paa_store(tmp_path)
    with pytest.raises(SetupError, match="not a folder"):
        check_paa_store(tmp_path / "missing")


def _network(**dut: object) -> RigConfig:
    return config_from_dict({"station": {}, "dut": {"kind": "network", **dut}})


def test_a_network_dut_without_a_trust_store_is_refused_before_any_matter_traffic() -> None:
    dut = dut_for(_network())
    with pytest.raises(ConfigError) as err:
        dut.check_session()
    text = str(err.value)
    assert "dut.paa_trust_store" in text and "allow-test-paa" in text and "not a certification result" in text
    with pytest.raises(ConfigError):
        dut.trust_store(SandboxInfo(Path("/nonexistent"), None, None))


def test_what_each_kind_trusts_is_stated(tmp_path: Path) -> None:
    strict = NetworkDut(_network(paa_trust_store=str(tmp_path)))
    strict.check_session()
    assert strict.describe()["attestation"] == f"strict: the PAAs of {tmp_path}"
    assert not strict.host_needs().node
    test_paa = NetworkDut(_network(attestation="allow-test-paa"))
    test_paa.check_session()
    assert test_paa.describe()["attestation"].startswith(TEST_PAA_NOTE)
    assert test_paa.host_needs().node  # the test PAAs are exported by matter.js
    virtual = VirtualDut(config_from_dict({"station": {}, "dut": {"kind": "virtual"}}))
    virtual.check_session()
    assert "not a certification result" in virtual.describe()["attestation"]


def test_strict_attestation_of_the_virtual_evse_needs_a_store() -> None:
    virtual = VirtualDut(config_from_dict({"station": {}, "dut": {"kind": "virtual", "attestation": "strict"}}))
    with pytest.raises(ConfigError, match=r"matter\.js test chain"):
        virtual.check_session()


def test_an_unknown_attestation_mode_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as err:
        _network(attestation="lenient")
    assert "dut.attestation" in str(err.value) and "allow-test-paa" in str(err.value) and "strict" in str(err.value)
