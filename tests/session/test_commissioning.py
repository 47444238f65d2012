"""The commissioning stage's decisions that need no DUT: the PASE pre-check and the identity check."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rig.commissioning import check_identity, precheck
from rig.errors import CommissioningError, DutError
from rig.station import DutRecord, Station, utc_now

OURS = b"\x04" + bytes(range(64))
THEIRS = b"\x04" + bytes(64)


class Table:
    """The shape of rig.matter.controller.PaseFabrics (no CHIP wheel needed here)."""

    def __init__(self, supported: int | None, commissioned: int | None, entries: list[dict[str, object]]) -> None:
        self.supported, self.commissioned, self.entries = supported, commissioned, entries


def entry(index: int, label: str, key: bytes = THEIRS, fabric_id: int = 1, vendor: int = 0x1234) -> dict[str, object]:
    return {"index": index, "vendor_id": vendor, "fabric_id": fabric_id, "label": label, "root_public_key": key}


def check(table: Table) -> None:
    precheck(table, node_id=0x1001, root_public_key=OURS, fabric_id=1, station="bench-1")  # type: ignore[arg-type]


def test_a_full_table_is_refused_with_every_fabric_listed() -> None:
    entries = [entry(i, f"admin {i}") for i in range(1, 5)] + [entry(5, "\x1b[31mevil")]
    with pytest.raises(CommissioningError) as err:
        check(Table(5, 5, entries))
    text = str(err.value)
    assert "fabric table is full (5 of 5 fabrics used" in text
    assert all(f"index {i}: vendor 0x1234, label 'admin {i}'" in text for i in range(1, 5))
    assert "\x1b" not in text and "'\\x1b[31mevil'" in text, "a DUT's label is shown escaped"
    assert "nothing was added" in text


def test_a_table_holding_this_stations_fabric_is_refused() -> None:
    with pytest.raises(CommissioningError, match=r"already holds the fabric of station 'bench-1' \(fabric index 2\)"):
        check(Table(5, 2, [entry(1, "vendor"), entry(2, "rig:bench-1", key=OURS)]))


def test_same_root_on_another_fabric_id_and_free_slots_pass() -> None:
    check(Table(5, 2, [entry(1, "vendor"), entry(2, "other", key=OURS, fabric_id=2)]))
    check(Table(None, None, []))  # a DUT that did not say: commissioning decides


def _station(tmp_path: Path) -> Station:
    return Station(tmp_path / "station", "bench-1")


def test_a_dut_other_than_the_recorded_one_is_refused_naming_each_field(tmp_path: Path) -> None:
    record = DutRecord(0x1001, 0xFFF1, 0x8000, "SN-1", 1, utc_now(), "on-network")
    check_identity(record, {"VendorID": 0xFFF1, "ProductID": 0x8000, "SerialNumber": "SN-1"}, _station(tmp_path))
    with pytest.raises(DutError) as err:
        check_identity(record, {"VendorID": 0xFFF1, "ProductID": 0x8001, "SerialNumber": "SN-2"}, _station(tmp_path))
    text = str(err.value)
    assert "product id 32769 (the record says 32768)" in text
    assert "serial number 'SN-2' (the record says 'SN-1')" in text
    assert "vendor id" not in text
    assert "rig station forget 0x1001" in text


def test_the_audit_log_is_private_and_one_line_per_action(tmp_path: Path) -> None:
    station = _station(tmp_path)
    with station.open():
        station.audit("remove-fabric: node 0x1001: fabric index 3 removed")
        station.audit("label from a DUT:\nsecond line")
    lines = station.audit_path.read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith("remove-fabric: node 0x1001: fabric index 3 removed")
    assert "\\n" in lines[1], "a newline from a DUT string does not start a line of its own"
    assert stat.S_IMODE(station.audit_path.stat().st_mode) == 0o600
    with pytest.raises(Exception, match="not opened by this run"):
        station.audit("without the lock")
