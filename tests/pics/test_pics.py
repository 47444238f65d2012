"""rig.pics: every input format, warnings, malformed files with file and line, derive, compare, write."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.pics import (
    KNOWN_EEVSE,
    DutElements,
    Pics,
    contradictions,
    derive_pics,
    load_pics,
    normalize_key,
    write_pics_text,
    write_pics_xml,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "pics"

# The virtual EVSE with every feature and optional element (rig.yaml default), as read over Matter.
VIRTUAL_ATTRS = [
    *range(0x0000, 0x000B), 0x0023, 0x0024, 0x0025, 0x0026, 0x0027, 0x0030, 0x0031, 0x0032,
    0x0040, 0x0041, 0x0042, 0x0043, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFD,
]  # fmt: skip
VIRTUAL_ACCEPTED = [1, 2, 3, 4, 5, 6, 7]
VIRTUAL_GENERATED = [0]


def xml_doc(*items: tuple[str, str]) -> str:
    body = "".join(
        f"      <picsItem>\n        <itemNumber>{k}</itemNumber>\n        <support>{v}</support>\n      </picsItem>\n"
        for k, v in items
    )
    head = '<?xml version="1.0"?>\n<clusterPICS>\n  <clusterSide type="Server">\n    <attributes>\n'
    return f"{head}{body}    </attributes>\n  </clusterSide>\n</clusterPICS>\n"


# -- formats ---------------------------------------------------------------------------------------------------
def test_text_form_with_comments_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "pics.txt"
    f.write_text("# EEVSE\nEEVSE.S=1\n\n  EEVSE.S.F03 = 0   # RFID off\nEEVSE.S.A0009=1\n")
    pics = load_pics(f)
    assert pics.items == {"EEVSE.S": True, "EEVSE.S.F03": False, "EEVSE.S.A0009": True}
    assert pics.check("EEVSE.S") and not pics.check("EEVSE.S.F03")
    assert not pics.check("EEVSE.S.F04"), "a missing key is not supported (as the SDK)"
    assert pics.source == f and pics.warnings == []


def test_single_xml_file_true_false_1_0(tmp_path: Path) -> None:
    f = tmp_path / "EEVSE.xml"
    f.write_text(xml_doc(("EEVSE.S", "true"), ("EEVSE.S.F00", "FALSE"), ("EEVSE.S.F01", "1"), ("EEVSE.S.F02", "0")))
    assert load_pics(f).items == {"EEVSE.S": True, "EEVSE.S.F00": False, "EEVSE.S.F01": True, "EEVSE.S.F02": False}


def test_example_files_agree_xml_and_text() -> None:
    xml, text = load_pics(EXAMPLES / "virtual-evse.xml"), load_pics(EXAMPLES / "virtual-evse.txt")
    assert xml.items == text.items and xml.warnings == [] and text.warnings == []
    off = load_pics(EXAMPLES / "virtual-evse-rfid-off.xml")
    assert {k for k in xml.items if xml.items[k] != off.items[k]} == {"EEVSE.S.F03", "EEVSE.S.E05"}


def test_folder_top_level_then_endpoint_subfolders_last_wins(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(xml_doc(("EEVSE.S", "true"), ("EEVSE.S.F03", "true")))
    (tmp_path / "notes.txt").write_text("ignored: only XML is read from a folder")
    (tmp_path / "10" / "deep").mkdir(parents=True)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "ep2.xml").write_text(xml_doc(("EEVSE.S.F03", "false"), ("EEVSE.S.F04", "false")))
    (tmp_path / "10" / "deep" / "ep10.xml").write_text(xml_doc(("EEVSE.S.F04", "true")))
    pics = load_pics(tmp_path)
    # endpoint folders sort numerically (2 before 10): the last definition of F04 is in 10/deep/ep10.xml
    assert pics.items == {"EEVSE.S": True, "EEVSE.S.F03": False, "EEVSE.S.F04": True}


def test_zip_archive_same_layout(tmp_path: Path) -> None:
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("base.xml", xml_doc(("EEVSE.S", "true")))
        zf.writestr("1/EEVSE.xml", xml_doc(("EEVSE.S.F03", "false")))
        zf.writestr("1/sub/more.xml", xml_doc(("EEVSE.S.F03", "true")))
    assert load_pics(z).items == {"EEVSE.S": True, "EEVSE.S.F03": True}


def test_lowercase_attribute_spelling_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("EEVSE.S.A000a=1\nEEVSE.S.C0a.Rsp=0\n")
    pics = load_pics(f)
    assert "EEVSE.S.A000A" in pics.items
    assert pics.check("EEVSE.S.A000A") and pics.check("EEVSE.S.A000a")
    assert normalize_key(" EEVSE.S.A00ff ") == "EEVSE.S.A00FF"
    assert normalize_key("MCORE.ROLE.COMMISSIONEE") == "MCORE.ROLE.COMMISSIONEE"


# -- warnings ----------------------------------------------------------------------------------------------
def test_unknown_keys_warn_with_file_and_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "p.txt"
    f.write_text("EEVSE.S=1\nEEVSE.S.A0099=1\nDGGEN.S=1\nMCORE.ROLE.COMMISSIONEE=1\nthis is odd=1\nEEVSE.S.F09=0\n")
    with caplog.at_level(logging.WARNING, logger="rig.pics"):
        pics = load_pics(f)
    assert len(pics.warnings) == 3, pics.warnings
    assert pics.warnings[0].startswith(f"{f}:2: EEVSE.S.A0099 ")
    assert f"{f}:5: this is odd" in pics.warnings[1]
    assert f"{f}:6: EEVSE.S.F09" in pics.warnings[2]
    assert "EEVSE.S.A0099" in caplog.text
    assert pics.check("EEVSE.S.A0099"), "an unknown key is still read"


def test_known_list_covers_the_reference_codes() -> None:
    for code in ("EEVSE.S", "EEVSE.S.F04", "EEVSE.S.A000A", "EEVSE.S.A0043", "EEVSE.S.C07.Rsp", "EEVSE.S.C00.Tx",
                 "EEVSE.S.E05", "EEVSE.S.M.ManuallyControlledPluggedIn"):  # fmt: skip
        assert code in KNOWN_EEVSE


# -- malformed ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("EEVSE.S=1\nEEVSE.S.F00=yes\n", 2, "0 or 1"),
        ("EEVSE.S=1\n# fine\nEEVSE.S.F00\n", 3, "KEY=1"),
        ("=1\n", 1, "KEY=1"),
    ],
)
def test_malformed_text_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_pics(f)
    assert f"{f}:{line}:" in str(exc.value) and words in str(exc.value)


def test_xml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.xml"
    f.write_text(xml_doc(("EEVSE.S", "true")).replace("</attributes>", "</attribute>"))
    with pytest.raises(ConfigError, match=rf"{f}:9: not well-formed PICS XML"):
        load_pics(f)


def test_xml_item_without_support_or_bad_value(tmp_path: Path) -> None:
    f = tmp_path / "bad.xml"
    f.write_text("<clusterPICS>\n<picsItem>\n<itemNumber>EEVSE.S</itemNumber>\n</picsItem>\n</clusterPICS>\n")
    with pytest.raises(ConfigError, match=rf"{f}:2: <picsItem> EEVSE.S has no <support>"):
        load_pics(f)
    f.write_text(
        "<clusterPICS>\n<picsItem>\n<itemNumber>EEVSE.S</itemNumber>\n<support>maybe</support>\n</picsItem>\n</clusterPICS>"
    )
    with pytest.raises(ConfigError, match=rf"{f}:4: <support> of EEVSE.S must be"):
        load_pics(f)
    f.write_text("<clusterPICS>\n<picsItem>\n<support>true</support>\n</picsItem>\n</clusterPICS>")
    with pytest.raises(ConfigError, match=rf"{f}:2: <picsItem> without an <itemNumber>"):
        load_pics(f)


def test_malformed_file_inside_zip_is_named(tmp_path: Path) -> None:
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("1/EEVSE.xml", "<clusterPICS>\n<picsItem>\n</clusterPICS>")
    with pytest.raises(ConfigError, match=rf"{z}:1/EEVSE.xml:3:"):
        load_pics(z)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_pics(tmp_path / "nope.xml")
    with pytest.raises(ConfigError, match="no PICS XML file"):
        load_pics(tmp_path)


# -- derive / compare / write --------------------------------------------------------------------------------
def test_derive_full_virtual_evse() -> None:
    items = derive_pics(0x1F, VIRTUAL_ATTRS, VIRTUAL_ACCEPTED, VIRTUAL_GENERATED, [0, 1, 2, 3, 4, 5])
    assert all(items.values()), [k for k, v in items.items() if not v]
    assert "EEVSE.S.A000A" in items and "EEVSE.S.A000a" not in items
    assert {k for k in items if ".F" in k} == {f"EEVSE.S.F0{i}" for i in range(5)}
    assert "EEVSE.S.AFFFD" not in items, "global attributes are left out unless asked for"
    assert "EEVSE.S.AFFFD" in derive_pics(0x1F, VIRTUAL_ATTRS, [], [], include_globals=True)
    assert items == load_pics(EXAMPLES / "virtual-evse.xml").items


def test_derive_minimal_evse_lists_what_it_lacks_as_false() -> None:
    attrs = [0, 1, 2, 3, 5, 6, 7, 0x40, 0x41, 0x42]
    items = derive_pics(0x0, attrs, [1, 2], [], None)
    assert items["EEVSE.S"] and items["EEVSE.S.A0000"] and items["EEVSE.S.C02.Rsp"]
    assert not items["EEVSE.S.F03"] and not items["EEVSE.S.A0009"] and not items["EEVSE.S.C00.Tx"]
    assert [k for k, v in items.items() if k.startswith("EEVSE.S.E") and v] == [f"EEVSE.S.E0{i}" for i in range(5)]
    assert derive_pics(0x8, attrs, [1, 2], [], None)["EEVSE.S.E05"], "RFID feature -> RFID event inferred"
    assert derive_pics(0x1 << 7, [], [], [])["EEVSE.S.F07"], "an unknown feature bit is listed too"


def test_contradictions_name_each_disagreement() -> None:
    dut = DutElements(0x1F, tuple(VIRTUAL_ATTRS), tuple(VIRTUAL_ACCEPTED), tuple(VIRTUAL_GENERATED), (0, 1, 2, 3, 4, 5))
    pics = load_pics(EXAMPLES / "virtual-evse.xml")
    assert contradictions(pics, dut) == []
    pics.items["EEVSE.S.F03"] = False
    pics.items["EEVSE.S.C04.Rsp"] = False
    del pics.items["EEVSE.S.A0009"]
    lacking = DutElements(0x17, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, (0, 1, 2, 3, 4))
    pics2 = load_pics(EXAMPLES / "virtual-evse.xml")
    assert contradictions(pics, dut) == [
        "PICS says EEVSE.S.F03=0 but the DUT's FeatureMap has RFID (bit 3)",
        "PICS omits EEVSE.S.A0009 but the DUT's AttributeList has 0x0009 UserMaximumChargeCurrent",
        "PICS says EEVSE.S.C04.Rsp=0 but the DUT's AcceptedCommandList has 0x04 StartDiagnostics",
    ]
    assert contradictions(pics2, lacking) == [
        "PICS says EEVSE.S.F03=1 but the DUT's FeatureMap lacks RFID (bit 3)",
        "PICS says EEVSE.S.E05=1 but the DUT's EventList lacks 0x05 RFID",
    ]
    unknown_events = DutElements(0x17, dut.attribute_ids, dut.accepted_cmds, dut.generated_cmds, None)
    assert contradictions(pics2, unknown_events) == [
        "PICS says EEVSE.S.F03=1 but the DUT's FeatureMap lacks RFID (bit 3)"
    ], "events are not compared when EventList could not be read"
    assert contradictions(Pics.everything(), lacking) == []


def test_dut_elements_json_round_trip() -> None:
    dut = DutElements(0x1F, (1, 2), (3,), (0,), None)
    assert DutElements.from_dict(dut.to_dict()) == dut


@pytest.mark.parametrize("writer", [write_pics_xml, write_pics_text])
def test_write_then_load_round_trip(tmp_path: Path, writer: object) -> None:
    items = derive_pics(0x17, VIRTUAL_ATTRS, VIRTUAL_ACCEPTED, VIRTUAL_GENERATED, None)
    items["DGGEN.S"] = True
    path = writer(items, tmp_path / "out")  # type: ignore[operator]
    pics = load_pics(path)
    assert pics.items == items and pics.warnings == []


def test_xml_is_in_the_csa_shape(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    path = write_pics_xml({"EEVSE.S": True, "EEVSE.S.A0004": False, "EEVSE.S.F04": True}, tmp_path / "p.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "clusterPICS" and root.findtext("picsRoot") == "EEVSE"
    side = root.find("clusterSide")
    assert side is not None and side.get("type") == "Server"
    attr = side.find("attributes/picsItem")
    assert attr is not None and attr.findtext("itemNumber") == "EEVSE.S.A0004"
    status = attr.find("status")
    assert status is not None and status.get("cond") == "EEVSE.S.F04" and status.text == "M"
    assert root.findtext("usage/picsItem/itemNumber") == "EEVSE.S"


def test_everything_stand_in() -> None:
    p = Pics.everything()
    assert p.check("EEVSE.S.F03") and p.check("anything") and p.missing(["EEVSE.S"]) == []
    assert "no PICS file" in p.describe()


# -- hostile and careless inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "no PICS items"),
        (b"# only a comment\n\n", "no PICS items"),
        (b'<?xml version="1.0"?>\n<cluster><name>Energy EVSE</name></cluster>\n', "no PICS items"),
        (b"FOO=1\nBAR=0\n", "none of its 2 keys is a PICS code"),
    ],
)
def test_empty_or_non_pics_file_is_refused(tmp_path: Path, content: bytes, words: str) -> None:
    f = tmp_path / "pics.txt"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=words) as exc:
        load_pics(f)
    assert str(f) in str(exc.value)


def test_special_files_are_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        load_pics(fifo)  # never blocks on the open
    (tmp_path / "a.xml").symlink_to(tmp_path / "b.xml")
    (tmp_path / "b.xml").symlink_to(tmp_path / "a.xml")
    with pytest.raises(ConfigError, match="loop of symbolic links"):
        load_pics(tmp_path / "a.xml")


def test_doctype_and_entities_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "lol.xml"
    f.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<x>&a;</x>\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{f}:2: a DOCTYPE in PICS XML is refused"):
        load_pics(f)


def test_zip_bomb_member_is_not_unpacked(tmp_path: Path) -> None:
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("EEVSE.xml", b"<" + b" " * (40 << 20))
    assert z.stat().st_size < 100_000
    with pytest.raises(ConfigError, match="too large"):
        load_pics(z)


def test_zip_member_whose_declared_size_lies_is_read_bounded(tmp_path: Path) -> None:
    z = tmp_path / "liar.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("EEVSE.xml", b"x" * (17 << 20))
    data = bytearray(z.read_bytes())
    # the local header's and the central directory's file_size say 10 bytes
    real = (17 << 20).to_bytes(4, "little")
    data = data.replace(real, (10).to_bytes(4, "little"))
    assert data.count((10).to_bytes(4, "little")) >= 2
    z.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=rf"PICS {z}: damaged zip archive") as exc:
        load_pics(z)  # the member is read up to its declared size, then its CRC fails
    assert str(z) in str(exc.value)


@pytest.mark.parametrize("member", ["../evil.xml", "/etc/evil.xml", "a/../../evil.xml", "C:\\evil.xml"])
def test_zip_members_outside_the_archive_are_refused(tmp_path: Path, member: str) -> None:
    z = tmp_path / "trav.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(zipfile.ZipInfo(member), xml_doc(("EEVSE.S", "true")))
    with pytest.raises(ConfigError, match="outside the archive"):
        load_pics(z)


def test_damaged_zip_is_named(tmp_path: Path) -> None:
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("EEVSE.xml", xml_doc(("EEVSE.S", "true")) * 50)
    data = bytearray(z.read_bytes())
    for i in range(40, 200):
        data[i] ^= 0x5A  # damage the compressed stream, keep the directory
    z.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=rf"PICS {z}: (damaged zip|cannot unpack)|{z}:EEVSE.xml"):
        load_pics(z)
