"""The station's root key fingerprint and compressed fabric id, checked against what the real CHIP wheel reports."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rig.station import Station, compressed_fabric_id, sdk_key
from rig.station.storage import parse_storage
from tests.station.conftest import DATA, STORES, facts, install_store

ROOT = Path(__file__).resolve().parents[2]


def colon_sha256(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(data).digest())


@pytest.mark.parametrize("store", STORES)
def test_fingerprint_and_compressed_fabric_id_match_the_wheel(station: Station, store: str) -> None:
    wheel = facts(store)
    with station:
        install_store(station, store)
        station.update_identity(ca_index=wheel["ca_index"], fabric_id=wheel["fabric_id"])
        key = station.root_public_key()
        assert key is not None and key.hex() == wheel["root_public_key"] and len(key) == 65
        assert station.root_fingerprint() == colon_sha256(bytes.fromhex(wheel["root_public_key"]))
        assert station.compressed_fabric_id() == wheel["compressed_fabric_id"]


def test_sdk_keys_of_a_ca_index_end_in_hex() -> None:
    """CA index 10's keys end in ``a``: the wheel's own store says so (its caList key stays decimal)."""
    data = json.loads((DATA / STORES[1]).read_text())
    assert list(data["repl-config"]["caList"]) == ["10"]
    assert {sdk_key("ExampleOpCredsCAKey", 10), sdk_key("ExampleCARootCert", 10)} <= set(data["sdk-config"])
    assert parse_storage((DATA / STORES[1]).read_bytes()).cas[10].fabrics == ((0x1234567890, 0xFFF1),)


def test_compressed_fabric_id_of_the_specification_example() -> None:
    """Matter core specification 4.3.2.2, the worked example: root public key, fabric id 0x2906C908D115D362."""
    key = bytes.fromhex(
        "044a9f42b1ca4840d37292bbc7f6a7e11e22200c976fc900dbc98a7a383a641cb8"
        "254a2e56d4e295a847943b4e3897c4a773e930277b4d9fbede8a052686bfacfa"
    )
    assert compressed_fabric_id(key, 0x2906_C908_D115_D362) == "87E1B004E235A130"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="the CHIP wheel runs in a sandbox: root")
def test_a_store_the_wheel_makes_now_reads_as_the_wheel_says(station: Station, tmp_path: Path) -> None:
    """A new store from the installed wheel (not the committed one): the format has not moved under the parser."""
    store, found = tmp_path / "made.json", tmp_path / "made.facts.json"
    proc = subprocess.run(
        [sys.executable, str(DATA / "make_storage.py"), str(store), str(found), "--ca-index", "3", "--fabric-id", "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = json.loads(found.read_text())
    with station:
        shutil.copyfile(store, station.storage_path)
        station.update_identity(ca_index=3, fabric_id=7)
        assert station.root_fingerprint() == colon_sha256(bytes.fromhex(wheel["root_public_key"]))
        assert station.compressed_fabric_id() == wheel["compressed_fabric_id"]
    assert station.backup_path.exists() is False  # made by the next opening
    with station:
        assert station.backup_path.read_bytes() == store.read_bytes()
