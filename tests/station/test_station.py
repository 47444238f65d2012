"""The station folder: private, locked, its fabric store checked and backed up, never replaced."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rig.station import DutRecord, Station, StationError, StationIdentity
from tests.station.conftest import DATA, STORES, install_store

RECORD = DutRecord(
    node_id=0x1001,
    vendor_id=0xFFF1,
    product_id=0x8000,
    serial_number="SN-0001",
    fabric_index=2,
    commissioned_at="2026-03-01T09:30:00Z",
    mode="on-network",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a station folder (the lock file aside: it holds the pid of the last run) and its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def commissioned(station: Station, store: str = STORES[0]) -> bytes:
    """Make ``station`` one that has a fabric (a wheel-made store), one DUT record, and a backup made by the next
    opening; return the store."""
    with station:
        raw = install_store(station, store)
        station.set_ca_index(1 if store == STORES[0] else 10)
        station.save_record(RECORD)
    with station:
        pass
    return raw


# -- a new station ---------------------------------------------------------------------------------------------------
def test_a_first_open_creates_a_private_folder_and_an_empty_private_store(station: Station, folder: Path) -> None:
    with station.open() as opened:
        assert opened is station and station.is_open
        assert mode(folder) == 0o700
        assert station.storage_path == folder / "chip-storage.json"
        assert station.storage_path.read_bytes() == b"" and mode(station.storage_path) == 0o600
        assert mode(folder / "station.json") == 0o600 and mode(folder / "duts") == 0o700
        assert mode(folder / "lock") == 0o600
        assert (folder / "lock").read_text().strip() == str(os.getpid())
        assert not station.backup_path.exists(), "an empty store holds nothing to back up"
        ident = station.identity
        assert (ident.controller_node_id, ident.fabric_id, ident.vendor_id, ident.ca_index) == (112233, 1, 0xFFF1, None)
        assert ident.created_at.endswith("Z")
        assert station.root_public_key() is None
        assert station.root_fingerprint() == "none yet" and station.compressed_fabric_id() is None
    assert not station.is_open
    with station:  # reopening keeps the identity
        assert station.identity == ident


def test_the_store_the_wheel_leaves_before_making_a_ca_holds_no_fabric_yet(station: Station) -> None:
    with station:
        pass
    station.storage_path.write_text('{"sdk-config": {"g/lkgt": "FSYAgKi8LBg="}, "repl-config": {}}')
    with station:
        assert station.root_public_key() is None
    assert not station.backup_path.exists()


# -- private -------------------------------------------------------------------------------------------------------
def test_a_folder_others_can_open_is_refused(station: Station, folder: Path) -> None:
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(StationError) as exc:
        station.open()
    text = str(exc.value)
    assert str(folder) in text and "mode 0755" in text and f"chmod 700 {folder}" in text
    assert os.listdir(folder) == [], "nothing made in a folder that is refused"


@pytest.mark.parametrize("name", ["chip-storage.json", "station.json", "duts/0000000000001001.json"])
def test_a_file_others_can_read_is_refused(station: Station, name: str) -> None:
    commissioned(station)
    path = station.folder / name
    path.chmod(0o644)
    before = snapshot(station.folder)
    with pytest.raises(StationError) as exc:
        station.open()
    text = str(exc.value)
    assert str(path) in text and "mode 0644" in text and f"chmod 600 {path}" in text
    assert snapshot(station.folder) == before
    assert not station.is_open, "the lock is released when the open fails"


def test_a_records_folder_others_can_open_is_refused(station: Station) -> None:
    commissioned(station)
    station.duts_dir.chmod(0o711)
    with pytest.raises(StationError, match=r"mode 0711.*chmod 700"):
        station.open()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("name", [".", "chip-storage.json", "duts/0000000000001001.json"])
def test_a_file_or_folder_of_another_user_is_refused(station: Station, name: str) -> None:
    commissioned(station)
    path = station.folder / name
    os.chown(path, 4321, -1)
    with pytest.raises(StationError) as exc:
        station.open()
    text = str(exc.value)
    assert "owned by uid 4321" in text and f"chown {os.geteuid()} {path.resolve()}" in text.replace(
        str(path), str(path.resolve())
    )


def test_a_store_that_is_a_symbolic_link_is_refused(station: Station, tmp_path: Path) -> None:
    with station:
        pass
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes((DATA / STORES[0]).read_bytes())
    elsewhere.chmod(0o600)
    station.storage_path.unlink()
    station.storage_path.symlink_to(elsewhere)
    with pytest.raises(StationError, match="symbolic link"):
        station.open()
    assert station.storage_path.is_symlink()


# -- one run at a time -----------------------------------------------------------------------------------------------
HOLDER = """
import sys
from pathlib import Path
from rig.station import Station
with Station(Path(sys.argv[1]), "bench-1"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_station_another_process_holds_is_refused_naming_its_pid(station: Station, folder: Path) -> None:
    with station:
        pass
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(StationError) as exc:
            station.open()
        assert str(exc.value) == (
            f"station bench-1 at {folder} is in use by another run (pid {proc.pid}); wait for it to end or stop it"
        )
        assert not station.is_open
        assert station.holder() == proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == 0
    assert station.holder() is None
    with station:  # free again once the holder ended
        assert station.holder() == os.getpid()


def test_two_openers_in_one_process_exclude_each_other(folder: Path) -> None:
    with (
        Station(folder, "bench-1"),
        pytest.raises(StationError, match=rf"in use by another run \(pid {os.getpid()}\)"),
    ):
        Station(folder, "bench-1").open()


# -- the fabric store is checked, backed up, never replaced ------------------------------------------------------
def test_a_valid_store_is_backed_up_before_use(station: Station) -> None:
    raw = commissioned(station)
    station.backup_path.unlink()
    with station:
        assert station.backup_path.read_bytes() == raw
        assert mode(station.backup_path) == 0o600
    assert station.storage_path.read_bytes() == raw


def _truncated() -> bytes:
    raw = (DATA / STORES[0]).read_bytes()
    return raw[: len(raw) // 2]


def _without(key: str) -> bytes:
    data = json.loads((DATA / STORES[0]).read_text())
    del data["sdk-config"][key]
    return json.dumps(data).encode()


def _edited(path: tuple[str, ...], value: object) -> bytes:
    data = json.loads((DATA / STORES[0]).read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data).encode()


def _other_root() -> bytes:
    """The store of CA index 1 with the root certificate of another store's CA: the key and its root disagree."""
    data = json.loads((DATA / STORES[0]).read_text())
    other = json.loads((DATA / STORES[1]).read_text())
    data["sdk-config"]["ExampleCARootCert1"] = other["sdk-config"]["ExampleCARootCerta"]
    return json.dumps(data).encode()


DAMAGED = {
    "truncated": (_truncated(), "not valid JSON"),
    "not JSON": (b"garbage", "not valid JSON"),
    "not text": (b"\xff\xfe{}", "not UTF-8"),
    "a list": (b"[]", "expected a JSON object"),
    "no CA key": (_without("ExampleOpCredsCAKey1"), "no ExampleOpCredsCAKey1"),
    "no root certificate": (_without("ExampleCARootCert1"), "no ExampleCARootCert1"),
    "bad base64": (_edited(("sdk-config", "f/1/n"), "@@not base64@@"), "'f/1/n' is not valid base64"),
    "empty caList": (_edited(("repl-config", "caList"), {}), "non-empty"),
    "bad CA index": (_edited(("repl-config", "caList"), {"one": []}), "not a CA index"),
    "bad fabric entry": (
        _edited(("repl-config", "caList"), {"1": [{"fabricId": "1", "vendorId": 65521}]}),
        "integers fabricId and vendorId",
    ),
    "CA key without caList": (_edited(("repl-config",), {}), "but no caList"),
    "root of another CA": (_other_root(), "does not certify the key in ExampleOpCredsCAKey1"),
    "root not DER": (
        _edited(("sdk-config", "ExampleCARootCert1"), "FTABAQEkAgE3AyQUARgmBIAigScmBYAlTTo3BiQUARgkBwEkCAEwCUEE"),
        "not an X.509 DER certificate",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_store_is_refused_and_left_as_it_is(station: Station, case: str) -> None:
    commissioned(station)
    backup = station.backup_path.read_bytes()
    content, problem = DAMAGED[case]
    station.storage_path.write_bytes(content)
    before = snapshot(station.folder)
    with pytest.raises(StationError) as exc:
        station.open()
    text = str(exc.value)
    assert f"the fabric store {station.storage_path} is damaged" in text and problem in text
    assert f"`cp -p {station.backup_path} {station.storage_path}`" in text, "names the backup to restore"
    assert snapshot(station.folder) == before, "neither the store nor its backup changed"
    assert station.backup_path.read_bytes() == backup
    assert not station.is_open


def test_a_damaged_store_without_a_backup_says_there_is_none(station: Station) -> None:
    commissioned(station)
    station.backup_path.unlink()
    station.storage_path.write_bytes(_truncated())
    with pytest.raises(StationError, match=r"There is no backup .* is absent\): restore it from your own backup"):
        station.open()
    assert station.storage_path.read_bytes() == _truncated()


@pytest.mark.parametrize("how", ["empty", "missing"])
def test_a_lost_store_of_a_station_with_duts_is_refused_and_not_recreated(station: Station, how: str) -> None:
    commissioned(station)
    if how == "empty":
        station.storage_path.write_bytes(b"")
    else:
        station.storage_path.unlink()
    before = snapshot(station.folder)
    with pytest.raises(StationError) as exc:
        station.open()
    text = str(exc.value)
    assert f"the fabric store {station.storage_path} is {how}" in text
    assert "1 DUT record(s)" in text and "names CA index 1" in text and "is lost" in text
    assert f"`cp -p {station.backup_path} {station.storage_path}`" in text
    assert snapshot(station.folder) == before
    assert station.storage_path.exists() == (how == "empty"), "a missing store is not re-created over a lost fabric"


def test_a_lost_store_is_refused_when_only_the_backup_remembers_the_fabric(station: Station) -> None:
    with station:
        install_store(station)
    assert station.backup_path.exists() is False
    with station:  # backed up here
        pass
    station.storage_path.write_bytes(b"")
    with pytest.raises(StationError, match=r"chip-storage\.json\.backup holds a fabric"):
        station.open()


def test_a_store_of_another_ca_than_the_stations_is_refused(station: Station) -> None:
    commissioned(station)
    install_store(station, STORES[1])  # CA index 10; station.json names CA index 1
    with pytest.raises(StationError, match=r"names CA index 1 but the fabric store .* holds CA index\(es\) 10"):
        station.open()


def test_a_fabric_id_the_ca_does_not_administer_is_refused(station: Station) -> None:
    commissioned(station)
    data = json.loads(station.identity_path.read_text())
    data["fabric_id"] = 2
    station.identity_path.write_text(json.dumps(data))
    with pytest.raises(StationError, match=r"names fabric id 2 but CA index 1 .* administers fabric id\(s\) 1"):
        station.open()


# -- identity and records --------------------------------------------------------------------------------------------
def test_records_round_trip_and_are_private(station: Station) -> None:
    other = DutRecord(
        node_id=0xFFFF_FFEF_FFFF_FFFF,
        vendor_id=0x1234,
        product_id=0,
        serial_number="é \u202e",
        fabric_index=254,
        commissioned_at="2026-03-02T10:00:00+00:00",
        mode="join",
    )
    with station:
        assert station.record(RECORD.node_id) is None and station.records() == []
        station.save_record(other)
        station.save_record(RECORD)
        assert station.record(RECORD.node_id) == RECORD
        assert station.records() == [RECORD, other]
        path = station.record_path(RECORD.node_id)
        assert path.name == "0000000000001001.json" and mode(path) == 0o600
        assert DutRecord.from_json(json.loads(path.read_text()), str(path)) == RECORD
        assert station.forget_record(RECORD.node_id) is True
        assert station.forget_record(RECORD.node_id) is False
        assert station.records() == [other]
    assert sorted(os.listdir(station.duts_dir)) == ["FFFFFFEFFFFFFFFF.json"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"node_id": 4097', "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (json.dumps({**RECORD.to_json(), "node_id": "4097"}).encode(), "node_id must be an integer, found '4097'"),
        (json.dumps({**RECORD.to_json(), "vendor_id": True}).encode(), "vendor_id must be an integer"),
        (json.dumps({**RECORD.to_json(), "fabric_index": 0}).encode(), "fabric_index 0 is outside 1..0xfe"),
        (json.dumps({**RECORD.to_json(), "serial_number": 7}).encode(), "serial_number must be a string"),
        (json.dumps({**RECORD.to_json(), "mode": "ble"}).encode(), "mode 'ble' is not one of on-network, join"),
        (
            json.dumps({**RECORD.to_json(), "commissioned_at": "2026-03-01T09:30:00+01:00"}).encode(),
            "is not in UTC",
        ),
        (json.dumps({**RECORD.to_json(), "extra": 1}).encode(), "unknown key(s) extra"),
        (json.dumps({k: v for k, v in RECORD.to_json().items() if k != "mode"}).encode(), "missing mode"),
        (json.dumps({**RECORD.to_json(), "node_id": 0x1002}).encode(), "holds node id 0x0000000000001002"),
    ],
)
def test_a_damaged_record_is_refused_naming_its_file(station: Station, content: bytes, problem: str) -> None:
    commissioned(station)
    path = station.record_path(RECORD.node_id)
    path.write_bytes(content)
    for read in (station.open, station.records, lambda: station.record(RECORD.node_id)):
        with pytest.raises(StationError) as exc:
            read()
        assert f"{path} is damaged" in str(exc.value) and problem in str(exc.value)
    assert path.read_bytes() == content


def test_a_file_that_is_not_a_record_is_named(station: Station) -> None:
    commissioned(station)
    stray = station.duts_dir / "notes.json"
    stray.write_text("{}")
    stray.chmod(0o600)
    with pytest.raises(StationError, match=f"{stray} is not a DUT record"):
        station.records()


def test_an_invalid_record_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="invalid DUT record: node_id 0 is outside"):
        DutRecord(0, 1, 1, "s", 1, "2026-01-01T00:00:00Z", "on-network")


def test_the_identity_is_updated_atomically_and_checked(station: Station) -> None:
    with station:
        created = station.identity.created_at
        assert station.update_identity(ca_index=3, controller_node_id=0x1B669) == StationIdentity(
            controller_node_id=0x1B669, ca_index=3, created_at=created
        )
        assert station.ca_index == 3 and station.controller_node_id == 0x1B669
        with pytest.raises(TypeError, match="created_at"):
            station.update_identity(created_at="2020-01-01T00:00:00Z")
        with pytest.raises(ValueError, match="vendor_id 65535 is outside"):
            station.update_identity(vendor_id=0xFFFF)
    assert json.loads(station.identity_path.read_text())["ca_index"] == 3
    assert sorted(os.listdir(station.folder)) == ["chip-storage.json", "duts", "lock", "station.json"]


def test_writing_needs_the_lock(station: Station) -> None:
    with station:
        pass
    for write in (lambda: station.save_record(RECORD), lambda: station.set_ca_index(1)):
        with pytest.raises(StationError, match="is not opened by this run"):
            write()


def test_a_damaged_identity_is_refused(station: Station) -> None:
    with station:
        pass
    station.identity_path.write_text('{"controller_node_id": 112233}')
    with pytest.raises(StationError, match=r"station.json is damaged: missing fabric_id, vendor_id, ca_index"):
        station.open()


def test_missing_parents_are_made_private_whatever_the_umask(station: Station, folder: Path) -> None:
    with station:  # the fixture's umask is 000
        pass
    assert mode(folder.parent) == 0o700 and mode(folder) == 0o700


def test_the_pid_a_killed_run_left_in_the_lock_file_does_not_hold_the_station(station: Station) -> None:
    with station:
        pass
    station.lock_path.write_text("4194303\n")  # the lock went with its process; the pid stayed in the file
    assert station.holder() is None
    with station:
        assert station.lock_path.read_text() == f"{os.getpid()}\n"
    assert station.lock_path.read_text() == "", "emptied when the run ends"
