"""Robustness corpus, PICS: malformed and hostile PICS files (text, XML, zip, folders) and cluster XML given where
a PICS belongs, through ``rig pics check FILE`` (read before anything starts) and ``rig run --pics FILE`` (read
before the sandbox). Every case: exit 2, one line naming the file (and line or member), no traceback, bounded in
time, nothing written.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.robustness.cli import run_rig, snapshot
from tests.robustness.expect import assert_refused

REPO = Path(__file__).resolve().parents[2]
CLUSTER_XML = (REPO / "spec" / "EnergyEVSE.xml").read_bytes()


def item(key: str, support: str = "true") -> str:
    return f"<picsItem><itemNumber>{key}</itemNumber><support>{support}</support></picsItem>"


def xml(*items: str) -> bytes:
    return ('<?xml version="1.0"?>\n<clusterPICS>\n' + "\n".join(items) + "\n</clusterPICS>\n").encode()


GOOD = xml(item("EEVSE.S"), item("EEVSE.S.F00", "false"))


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def _patch_headers(data: bytes, offset_local: int, offset_central: int, value: int) -> bytes:
    """Set a 16-bit field of every local and central header (flags: 6/8, method: 8/10)."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        at = out.find(sig)
        while at >= 0:
            out[at + off : at + off + 2] = struct.pack("<H", value)
            at = out.find(sig, at + 4)
    return bytes(out)


ENCRYPTED = _patch_headers(zipped({"EEVSE.xml": GOOD}, zipfile.ZIP_STORED), 6, 8, 1)
UNKNOWN_METHOD = _patch_headers(zipped({"EEVSE.xml": GOOD}, zipfile.ZIP_STORED), 8, 10, 99)
GOOD_ZIP = zipped({"EEVSE.xml": GOOD * 20})
DAMAGED_ZIP = GOOD_ZIP[:40] + bytes(b ^ 0x5A for b in GOOD_ZIP[40:120]) + GOOD_ZIP[120:]

# (id, file name, content, fragments of the message besides the file name)
FILE_CASES: list[tuple[str, str, bytes, tuple[str, ...]]] = [
    # text form
    ("text-empty", "pics.txt", b"", ("no PICS items",)),
    ("text-blank-lines", "pics.txt", b"\n\n   \n", ("no PICS items",)),
    ("text-only-comments", "pics.txt", b"# EEVSE.S=1\n# nothing else\n", ("no PICS items",)),
    ("text-no-equals", "pics.txt", b"EEVSE.S\n", (":1: expected KEY=1 or KEY=0",)),
    ("text-value-2", "pics.txt", b"EEVSE.S=2\n", (":1: PICS EEVSE.S must have the value 0 or 1",)),
    ("text-value-true", "pics.txt", b"EEVSE.S=1\nEEVSE.S.F00=true\n", (":2:", "'true'")),
    ("text-no-key", "pics.txt", b"=1\n", (":1: expected KEY=1",)),
    ("text-not-pics-keys", "pics.txt", b"FOO=1\nBAR=0\n", ("none of its 2 keys is a PICS code",)),
    ("text-shell-script", "pics.txt", b"#!/bin/sh\nrm -rf /\n", (":2: expected KEY=1",)),
    ("text-ini-file", "pics.txt", b"[section]\nkey=value\n", (":1: expected KEY=1",)),
    ("text-json", "pics.txt", b'{"EEVSE.S": true}\n', (":1: expected KEY=1",)),
    ("text-latin1", "pics.txt", "EEVSE.S=1 # caf\xe9\n".encode("latin-1"), (":1: not UTF-8 text",)),
    ("text-utf16", "pics.txt", "EEVSE.S=1\n".encode("utf-16"), (":1: not UTF-8 text",)),
    ("text-binary", "pics.bin", bytes(range(256)) * 4, ("not UTF-8 text",)),
    ("text-escape-codes", "pics.txt", b"\x1b[2J\x1b[31mEEVSE.S=1\n", ("none of its 1 keys is a PICS code",)),
    ("text-huge", "pics.txt", b"EEVSE.S=1\n" * 1_800_000, ("too large",)),
    # XML
    ("xml-truncated", "pics.xml", GOOD[: len(GOOD) // 2], ("not well-formed PICS XML",)),
    ("xml-not-well-formed", "pics.xml", b"<a><b></a>\n", (":1: not well-formed PICS XML",)),
    ("xml-no-items", "pics.xml", b'<?xml version="1.0"?>\n<clusterPICS/>\n', ("no PICS items",)),
    (
        "xml-no-item-number",
        "pics.xml",
        xml("<picsItem><support>true</support></picsItem>"),
        ("without an <itemNumber>",),
    ),
    ("xml-no-support", "pics.xml", xml("<picsItem><itemNumber>EEVSE.S</itemNumber></picsItem>"), ("has no <support>",)),
    ("xml-support-maybe", "pics.xml", xml(item("EEVSE.S", "maybe")), ("<support> of EEVSE.S must be", "'maybe'")),
    ("xml-non-pics-keys", "pics.xml", xml(item("hello"), item("world")), ("none of its 2 keys is a PICS code",)),
    (
        "xml-billion-laughs",
        "pics.xml",
        b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + b"]>\n<l>&i;</l>\n",
        (":2: a DOCTYPE in PICS XML is refused",),
    ),
    (
        "xml-external-entity",
        "pics.xml",
        b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<x>&e;</x>\n',
        (":2: a DOCTYPE",),
    ),
    (
        "xml-external-dtd",
        "pics.xml",
        b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://evil.example/x.dtd">\n<x/>\n',
        (":2: a DOCTYPE",),
    ),
    ("xml-deep-nesting", "pics.xml", b"<a>" * 50_000 + b"</a>" * 50_000, ("no PICS items",)),
    ("xml-undefined-entity", "pics.xml", b"<x>&nope;</x>\n", (":1: not well-formed PICS XML",)),
    (
        "xml-bad-encoding",
        "pics.xml",
        b'<?xml version="1.0" encoding="klingon"?>\n<x/>\n',
        ("unknown encoding: klingon",),
    ),
    ("xml-nul-byte", "pics.xml", b"<x>\x00</x>\n", (":1: not well-formed PICS XML",)),
    ("xml-html-page", "pics.xml", b"<!doctype html>\n<html><body>Login</body></html>\n", (":1: not well-formed",)),
    ("xml-huge", "pics.xml", b"<x>" + b" " * (17 << 20) + b"</x>", ("too large",)),
    # cluster XML given where the PICS belong
    ("cluster-xml", "EnergyEVSE.xml", CLUSTER_XML, ("no PICS items",)),
    ("cluster-xml-truncated", "EnergyEVSE.xml", CLUSTER_XML[: len(CLUSTER_XML) // 3], ("not well-formed PICS XML",)),
    (
        "cluster-xml-with-doctype",
        "EnergyEVSE.xml",
        CLUSTER_XML.replace(b"<cluster", b'<!DOCTYPE cluster [<!ENTITY x "y">]>\n<cluster', 1),
        ("a DOCTYPE",),
    ),
    ("cluster-xml-garbled", "EnergyEVSE.xml", CLUSTER_XML.replace(b"</", b"<", 5), ("not well-formed PICS XML",)),
    ("cluster-xml-binary-tail", "EnergyEVSE.xml", CLUSTER_XML + b"\xff\xfe\x00", ("not UTF-8 text",)),
    ("cluster-xml-in-zip", "spec.zip", zipped({"EnergyEVSE.xml": CLUSTER_XML}), ("no PICS items",)),
    # zip archives
    ("zip-empty", "pics.zip", zipped({}), ("no PICS XML file",)),
    ("zip-no-xml", "pics.zip", zipped({"readme.txt": b"EEVSE.S=1\n"}), ("no PICS XML file",)),
    ("zip-binary-member", "pics.zip", zipped({"EEVSE.xml": bytes(range(256))}), ("EEVSE.xml", "not UTF-8")),
    ("zip-bad-member", "pics.zip", zipped({"1/EEVSE.xml": b"<a><b></a>"}), ("1/EEVSE.xml:1: not well-formed",)),
    ("zip-bomb", "pics.zip", zipped({"EEVSE.xml": b"<" + b" " * (40 << 20)}), ("EEVSE.xml", "too large")),
    (
        "zip-many-small-bombs",
        "pics.zip",
        zipped({f"{i}/EEVSE.xml": b" " * (15 << 20) for i in range(6)}),
        ("zip bomb",),
    ),
    ("zip-too-many-members", "pics.zip", zipped({f"x{i}.txt": b"" for i in range(1001)}), ("more than 1000",)),
    ("zip-traversal", "pics.zip", zipped({"../../evil.xml": GOOD}), ("'../../evil.xml'", "outside the archive")),
    ("zip-traversal-nested", "pics.zip", zipped({"1/../../evil.xml": GOOD}), ("outside the archive",)),
    ("zip-absolute-member", "pics.zip", zipped({"/etc/evil.xml": GOOD}), ("'/etc/evil.xml'", "outside the archive")),
    ("zip-windows-drive", "pics.zip", zipped({"C:\\evil.xml": GOOD}), ("outside the archive",)),
    ("zip-backslash-traversal", "pics.zip", zipped({"..\\..\\evil.xml": GOOD}), ("outside the archive",)),
    ("zip-nested-zip-only", "pics.zip", zipped({"inner.zip": zipped({"EEVSE.xml": GOOD})}), ("no PICS XML file",)),
    ("zip-truncated", "pics.zip", GOOD_ZIP[: len(GOOD_ZIP) // 2], ("not UTF-8 text",)),
    ("zip-damaged-data", "pics.zip", DAMAGED_ZIP, ("pics.zip",)),
    ("zip-encrypted", "pics.zip", ENCRYPTED, ("cannot unpack the zip archive",)),
    ("zip-unknown-method", "pics.zip", UNKNOWN_METHOD, ("cannot unpack the zip archive",)),
    ("zip-empty-xml-member", "pics.zip", zipped({"EEVSE.xml": b""}), ("no PICS items",)),
]


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pics.xml")
    return folder / "pics.xml"


def _loop(folder: Path) -> Path:
    (folder / "pics.xml").symlink_to(folder / "other.xml")
    (folder / "other.xml").symlink_to(folder / "pics.xml")
    return folder / "pics.xml"


def _empty_folder(folder: Path) -> Path:
    (folder / "pics").mkdir()
    return folder / "pics"


def _folder_without_xml(folder: Path) -> Path:
    (folder / "pics").mkdir()
    (folder / "pics" / "pics.txt").write_text("EEVSE.S=1\n")
    return folder / "pics"


def _folder_with_bad_xml(folder: Path) -> Path:
    (folder / "pics" / "1").mkdir(parents=True)
    (folder / "pics" / "1" / "EEVSE.xml").write_bytes(b"<open>")
    return folder / "pics"


def _folder_with_fifo_xml(folder: Path) -> Path:
    (folder / "pics").mkdir()
    os.mkfifo(folder / "pics" / "EEVSE.xml")
    return folder / "pics"


def _folder_with_empty_xml(folder: Path) -> Path:
    (folder / "pics").mkdir()
    (folder / "pics" / "EEVSE.xml").write_bytes(b"")
    return folder / "pics"


def _missing(folder: Path) -> Path:
    return folder / "nowhere.xml"


def _device(folder: Path) -> Path:
    return Path("/dev/zero")


# (id, make the input, fragments)
SPECIAL_CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("fifo", _fifo, ("pics.xml", "FIFO")),
    ("symlink-loop", _loop, ("pics.xml", "loop of symbolic links")),
    ("device", _device, ("/dev/zero", "device")),
    ("missing", _missing, ("nowhere.xml", "no such file")),
    ("empty-folder", _empty_folder, ("pics", "no PICS XML file")),
    ("folder-without-xml", _folder_without_xml, ("pics", "no PICS XML file")),
    ("folder-with-bad-xml", _folder_with_bad_xml, ("EEVSE.xml:1: not well-formed",)),
    ("folder-with-fifo-xml", _folder_with_fifo_xml, ("pics", "no PICS XML file")),
    ("folder-with-empty-xml", _folder_with_empty_xml, ("pics", "no PICS items")),
]


def _refused_everywhere(case_dir: Path, path: Path, fragments: tuple[str, ...]) -> None:
    for argv in (["pics", "check", str(path)], ["run", "--pics", str(path)]):
        before = snapshot(case_dir)
        outcome = run_rig(argv, cwd=case_dir)
        assert_refused(outcome, *fragments)
        assert snapshot(case_dir) == before, f"rig {' '.join(argv)} wrote something"


@pytest.mark.parametrize(("name", "content", "fragments"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_pics_file(case_dir: Path, name: str, content: bytes, fragments: tuple[str, ...]) -> None:
    path = case_dir / name
    path.write_bytes(content)
    _refused_everywhere(case_dir, path, (name, *fragments))


@pytest.mark.parametrize(("make", "fragments"), [c[1:] for c in SPECIAL_CASES], ids=[c[0] for c in SPECIAL_CASES])
def test_pics_that_is_no_file(case_dir: Path, make: Callable[[Path], Path], fragments: tuple[str, ...]) -> None:
    _refused_everywhere(case_dir, make(case_dir), fragments)
