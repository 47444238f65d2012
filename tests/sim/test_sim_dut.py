"""``rig sim dut`` and the attestation chain it attests with (rig.sim.attestation).

The chain is checked the way the Matter SDK's attestation verifier checks one (signatures, and the extensions and
subject attributes of the Matter core specification, 6.2.2) and, where openssl is installed, by ``openssl verify
-x509_strict``. ``rig sim dut`` is started as a user starts it; in its network namespace the EVSE must answer an
mDNS query for commissionable nodes, and SIGTERM must leave neither the namespace nor the process.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from rig.cli import main
from rig.errors import SetupError
from rig.sandbox import in_netns
from rig.sim.attestation import NO_EXPIRY, PID_OID, VID_OID, Chain, chain_problem, make_chain
from rig.sim.virtual_evse import EVSE_DIR
from tests.support import wait_until

VID, PID = 0xFFF1, 0x8000
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def load(path: Path) -> x509.Certificate:
    return x509.load_der_x509_certificate(path.read_bytes())


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_oid(oid)


def ids(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    """The values of a subject attribute, each checked to be encoded as a UTF8String (tag 0x0C) of 4 characters."""
    values = [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]
    for value in values:
        assert OID_DER[oid] + b"\x0c\x04" + value.encode() in cert.tbs_certificate_bytes, (oid, value)
    return values


OID_DER = {VID_OID: bytes.fromhex("060a2b0601040182a27c0201"), PID_OID: bytes.fromhex("060a2b0601040182a27c0202")}
"""The DER encoding of the Matter VID and PID attribute OIDs (1.3.6.1.4.1.37244.2.1 and .2.2)."""


# -- the chain -------------------------------------------------------------------------------------------------------
def test_make_chain_writes_a_chain_of_its_own_as_the_spec_and_the_sdk_verifier_want(tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "chain", vendor_id=VID, product_id=PID)
    paa, pai, dac = load(chain.paa), load(chain.pai), load(chain.dac)

    assert sorted(p.name for p in chain.paa_trust_store.iterdir()) == ["paa.der"], "the trust store holds the PAA only"
    paa.verify_directly_issued_by(paa)
    pai.verify_directly_issued_by(paa)
    dac.verify_directly_issued_by(pai)
    assert paa.subject != x509.Name([]) and paa.subject == paa.issuer
    assert "Matter Test PAA" not in paa.subject.rfc4514_string()

    expected = {  # (CA, pathlen, keyCertSign + cRLSign, digitalSignature)
        "PAA": (paa, True, 1, True, False),
        "PAI": (pai, True, 0, True, False),
        "DAC": (dac, False, None, False, True),
    }
    for what, (cert, ca, pathlen, signs_certs, signs_data) in expected.items():
        assert cert.version == x509.Version.v3, what
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256, what
        public = cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1", what
        basic = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
        assert basic.critical and (basic.value.ca, basic.value.path_length) == (ca, pathlen), what
        usage = ext(cert, ExtensionOID.KEY_USAGE)
        assert usage.critical, what
        assert (usage.value.key_cert_sign, usage.value.crl_sign) == (signs_certs, signs_certs), what
        assert usage.value.digital_signature == signs_data, what
        assert not any(
            getattr(usage.value, bit)
            for bit in ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
        ), what
        skid = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        assert not skid.critical and skid.value.digest == x509.SubjectKeyIdentifier.from_public_key(public).digest
        assert len(skid.value.digest) == 20, what
        assert not ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).critical, what
        assert ids(cert, VID_OID) == ["FFF1"], what
    certs = {"PAA": paa, "PAI": pai, "DAC": dac}
    akid = {name: ext(c, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier for name, c in certs.items()}
    skid = {name: ext(c, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest for name, c in certs.items()}
    assert (akid["PAA"], akid["PAI"], akid["DAC"]) == (skid["PAA"], skid["PAA"], skid["PAI"])
    assert ids(dac, PID_OID) == ["8000"]
    assert ids(paa, PID_OID) == [], "a PAA with a PID is refused by the verifier"

    # the DAC is valid now; the PAI and PAA at the DAC's notBefore (what the verifier checks)
    now = time.time()
    assert dac.not_valid_before_utc.timestamp() < now and dac.not_valid_after_utc == NO_EXPIRY
    for issuer in (pai, paa):
        assert issuer.not_valid_before_utc <= dac.not_valid_before_utc < issuer.not_valid_after_utc

    key = serialization.load_der_private_key(chain.dac_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.public_key() == dac.public_key()
    assert stat.S_IMODE(chain.dac_key.stat().st_mode) == 0o600
    assert chain.certification() == {
        "privateKey": str(chain.dac_key),
        "certificate": str(chain.dac),
        "intermediateCertificate": str(chain.pai),
    }


def test_make_chain_reuses_a_valid_chain_and_replaces_one_that_does_not_fit(tmp_path: Path) -> None:
    folder = tmp_path / "chain"
    first = make_chain(folder, vendor_id=VID, product_id=PID)
    files = {p: p.read_bytes() for p in (first.paa, first.pai, first.dac, first.dac_key)}
    again = make_chain(folder, vendor_id=VID, product_id=PID)
    assert again == first and {p: p.read_bytes() for p in files} == files, "a valid chain is reused as it is"

    other = make_chain(folder, vendor_id=VID, product_id=0x8001)
    assert chain_problem(other) is None and load(other.dac).subject.get_attributes_for_oid(PID_OID)[0].value == "8001"
    assert other.paa.read_bytes() != files[first.paa], "another product id: a new chain"
    assert chain_problem(Chain(folder.resolve(), VID, PID)) == "DAC PID is 8001, not 8000"

    other.dac_key.write_bytes(b"broken")
    assert chain_problem(other) is not None
    repaired = make_chain(folder, vendor_id=VID, product_id=0x8001)
    assert chain_problem(repaired) is None and stat.S_IMODE(repaired.dac_key.stat().st_mode) == 0o600


def test_make_chain_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SetupError, match="cannot write the attestation chain in"):
        make_chain(tmp_path / "file", vendor_id=VID, product_id=PID)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain_strictly(tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "chain", vendor_id=VID, product_id=PID)
    pem = {}
    for name, path in (("paa", chain.paa), ("pai", chain.pai), ("dac", chain.dac)):
        pem[name] = tmp_path / f"{name}.pem"
        pem[name].write_bytes(load(path).public_bytes(serialization.Encoding.PEM))
    cmd = ["openssl", "verify", "-x509_strict", "-CAfile", str(pem["paa"]), "-untrusted", str(pem["pai"])]
    proc = subprocess.run([*cmd, str(pem["dac"])], capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": OK"), proc.stdout + proc.stderr


# -- rig sim dut -----------------------------------------------------------------------------------------------------
needs_netns = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("ip") is None
    or shutil.which("node") is None
    or not (EVSE_DIR / "node_modules" / "@matter" / "main").is_dir(),
    reason="rig sim dut --netns needs root, ip, node and the virtual EVSE's npm packages",
)


def netns_list() -> list[str]:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def alive(pid: int) -> bool:
    """The PID exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def read_ready_line(proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    """The first stdout line of ``proc`` as JSON, waited for at most ``timeout_s``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise AssertionError(f"no ready line within {timeout_s:g} s (exit code {proc.poll()}); stdout: {buf!r}")
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            buf += chunk
    line: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
    return line


def _mdns_query(name: str) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return struct.pack("!6H", 0, 0, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!2H", 12, 1)  # PTR, IN


def commissionable_answer(netns: str, iface: str, timeout_s: float) -> bytes:
    """The first mDNS response for ``_matterc._udp.local`` heard on ``iface`` of ``netns`` (asked every 0.5 s)."""
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        index = socket.if_nametoindex(iface)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("::", 5353))
        group = socket.inet_pton(socket.AF_INET6, "ff02::fb") + struct.pack("@I", index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sock.sendto(_mdns_query("_matterc._udp.local"), ("ff02::fb", 5353, 0, index))
            try:
                while True:
                    data, _ = sock.recvfrom(9000)
                    is_response = struct.unpack("!H", data[2:4])[0] & 0x8000
                    if is_response and b"_matterc" in data:
                        return data
            except TimeoutError:
                continue
    raise AssertionError(f"no mDNS answer for _matterc._udp.local on {iface} of {netns} within {timeout_s:g} s")


@needs_netns
def test_rig_sim_dut_runs_the_evse_in_its_namespace_until_sigterm(tmp_path: Path) -> None:
    netns = f"rig-simdut-{secrets.token_hex(3)}"
    state, chain_dir = tmp_path / "state", tmp_path / "chain"
    cmd = [sys.executable, "-m", "rig.cli", "sim", "dut", "--netns", netns, "--state", str(state)]
    cmd += ["--chain", str(chain_dir), "--discriminator", "3017", "--supported-fabrics", "6"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = read_ready_line(proc, READY_TIMEOUT_S)
        assert ready["ready"] is True and ready["netns"] == netns and ready["interface"] == "veth1"
        assert (ready["port"], ready["passcode"], ready["discriminator"]) == (5540, 20202021, 3017)
        assert ready["manual_code"].isdigit() and len(ready["manual_code"]) == 11
        assert ready["supported_fabrics"] == 6 and ready["commissioned"] is False
        assert ready["paa_trust_store"] == str((chain_dir / "paa").resolve())
        assert chain_problem(Chain(chain_dir.resolve(), VID, PID)) is None
        assert netns in netns_list() and alive(ready["pid"])
        config = json.loads((state / "virtual-evse.config.json").read_text())
        assert config["supportedFabrics"] == 6 and config["certification"]["certificate"].endswith("dac.der")
        assert "hardwarePort" not in config, "no instruments: the stimulus of a run against it is `trigger`"

        answer = commissionable_answer(netns, "veth0", timeout_s=10)  # from the controller's end of the pair
        assert b"D=3017" in answer, answer

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        _, err = proc.communicate(timeout=STOP_TIMEOUT_S)
    assert b"SIGTERM: the virtual EVSE is stopped" in err, err
    assert netns not in netns_list()
    wait_until(lambda: alive(ready["pid"]), lambda up: not up, timeout_s=5, what="the EVSE process gone")
    assert (state / "storage").is_dir(), "the storage stays for the next start"


def test_rig_sim_dut_refuses_bad_input_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    cases = {
        ("--state", str(tmp_path / "file")): "--state",
        ("--state", str(tmp_path), "--netns", "bad/name"): "--netns 'bad/name'",
        ("--state", str(tmp_path), "--supported-fabrics", "4"): "--supported-fabrics 4: must be 5..254",
        ("--state", str(tmp_path), "--passcode", "abc"): "--passcode 'abc': not an integer",
        ("--state", str(tmp_path), "--vendor-id", "0x10000"): "--vendor-id 65536: must be 0x0001..0xFFFE",
    }
    for args, message in cases.items():
        code = main(["sim", "dut", *args])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1, (args, err)
        assert lines[0].startswith("rig: error: ") and message in lines[0], (args, lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"], "nothing made before the input is checked"


def test_kept_storage_lives_in_the_station_folder_not_in_the_run(tmp_path: Path) -> None:
    """``virtual_evse.keep_storage``: the virtual EVSE's storage outlives the run (the run's state folder is removed
    after it), in the station's private folder; without it, in the run's state folder."""
    from rig.config import load_config, parse_override
    from rig.dut.virtual import VirtualDut
    from rig.sandbox import SandboxInfo

    root = Path(__file__).resolve().parents[2]
    sandbox = SandboxInfo(tmp_path / "run", "rig-x", "veth-x")
    station = tmp_path / "station"
    overrides = {"station.state_dir": str(station)}
    fresh = VirtualDut(load_config(root / "rig.yaml", environ={}, overrides=overrides))
    assert fresh.storage_path(sandbox).is_relative_to(sandbox.state_dir)
    overrides["virtual_evse.keep_storage"] = "true"
    kept = VirtualDut(
        load_config(
            root / "rig.yaml", environ={}, overrides=dict(parse_override(f"{k}={v}") for k, v in overrides.items())
        )
    )
    assert kept.storage_path(sandbox).is_relative_to(station)
    assert not kept.storage_path(sandbox).is_relative_to(sandbox.state_dir)
