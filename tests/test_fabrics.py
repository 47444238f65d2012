"""The DUT's fabric table as the report keeps it: the rig's label, free slots, other admins, stale rig fabrics."""

from __future__ import annotations

from rig.matter.fabrics import FabricEntry, FabricTable, rig_label
from rig.report.html import _fabrics_text


def test_the_rig_label_names_the_station_within_32_bytes() -> None:
    assert rig_label("bench-3") == "rig:bench-3"
    long = rig_label("a-very-long-station-name-beyond-the-limit")
    assert long.startswith("rig:a-very") and len(long.encode()) == 32
    assert len(rig_label("é" * 40).encode()) <= 32  # never a cut multi-byte character


def test_stale_rig_fabrics_are_the_rig_labelled_entries_other_than_ours() -> None:
    table = FabricTable(
        current_index=3,
        supported=5,
        commissioned=3,
        entries=[
            FabricEntry(1, 0x1234, 7, 1, "Vendor app"),
            FabricEntry(2, 0xFFF1, 1, 0x1001, "rig:bench-3"),
            FabricEntry(3, 0xFFF1, 1, 0x1001, "rig:bench-3"),
            FabricEntry(4, 0xFFF1, 1, 0x2001, "rig:bench-4"),
        ],
        label="rig:bench-3",
        station_label="rig:bench-3",
    )
    assert [e.index for e in table.stale_rig_fabrics()] == [2], "another station's rig fabric is another admin"
    record = table.to_record()
    assert record["free"] == 2 and record["stale_rig_fabrics"] == [2] and record["current_index"] == 3
    text = _fabrics_text(record)
    assert "3 of 5 used (2 free)" in text
    assert "index 1: other admin, VID 0x1234, label 'Vendor app'" in text
    assert "index 3: the rig's" in text and "stale rig fabrics at index 2" in text


def test_a_table_the_dut_would_not_give_is_a_note() -> None:
    record = FabricTable(problems=["Fabrics: the DUT sent 'x' (str), not a list"]).to_record()
    assert record["free"] is None
    assert _fabrics_text(record) == "note: Fabrics: the DUT sent 'x' (str), not a list"
