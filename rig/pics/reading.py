"""PICS: read the CSA PICS XML and the ``KEY=1|0`` text form, derive PICS from a live DUT, write both forms.

Reading follows the Matter SDK's python framework (``matter/testing/pics.py``):

* **text** (ci-pics-values style): ``KEY=1`` or ``KEY=0`` per line, ``#`` starts a comment; any other value is an
  error;
* **XML**: every ``<picsItem>`` anywhere in the tree; ``<itemNumber>`` is the key, ``<support>`` the value
  (``true``/``false``/``1``/``0``);
* **a folder**: every ``*.xml`` at its top level, then the XML files at any depth under each immediate sub-folder
  (one sub-folder per endpoint; numeric names sorted numerically);
* **a zip archive** with the same layout.

The last definition of a key wins. A key missing from the file is not supported (``Pics.check`` is False), as in
the SDK. Keys are normalised on input and on ``check``: the hex digits of ``.A``/``.C``/``.E``/``.F`` element codes
are upper case (``EEVSE.S.A000a`` and ``EEVSE.S.A000A`` are the same key). Unknown keys give warnings, a malformed
file a ``ConfigError`` naming the file and line. This module never imports ``chip``.

The element tables (``FEATURES``, ``ATTRIBUTES``, ``ACCEPTED_COMMANDS``, ``GENERATED_COMMANDS``, ``EVENTS`` and
``KNOWN_EEVSE``) are derived from the cluster specification (:func:`rig.spec.energy_evse`), never written here.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from xml.parsers import expat

from rig.errors import ConfigError
from rig.inputs import read_input
from rig.spec.checks import GLOBAL_ATTRIBUTES as SPEC_GLOBAL_ATTRIBUTES
from rig.spec.checks import elements
from rig.spec.eevse import energy_evse
from rig.spec.model import Conformance

if TYPE_CHECKING:
    from rig.pics.derive import DutElements

log = logging.getLogger("rig.pics")

# -- the Energy EVSE cluster's elements, derived once (at import) from spec/EnergyEVSE.xml ---------------------
Element = tuple[str, str, str]
"""An element: (name, PICS status, condition), the spec's conformance as a PICS file states it (``M``, ``V2X``)."""

_SPEC = energy_evse()
EEVSE: str = _SPEC.pics_code or ""
"""The cluster's PICS code (``EEVSE``), as the spec's ``<classification picsCode>`` gives it."""
EEVSE_CLUSTER_ID: int = _SPEC.id
CLUSTER_NAME = _SPEC.name.removesuffix(" Cluster")
"""``Energy EVSE``."""
CLUSTER_TITLE = f"{CLUSTER_NAME} cluster (0x{_SPEC.id:04X}) revision {_SPEC.revision}"
"""``Energy EVSE cluster (0x0099) revision 3``, the reference written into PICS files."""


def _element(name: str, conformance: Conformance) -> Element:
    status, condition = conformance.pics
    return name, status, condition


# bit -> (code, name, PICS status)
FEATURES: dict[int, tuple[str, str, str]] = {f.bit: (f.code, f.name, f.conformance.pics[0]) for f in _SPEC.features}
ATTRIBUTES: dict[int, Element] = {a.id: _element(a.name, a.conformance) for a in elements(_SPEC, "attribute")}
GLOBAL_ATTRIBUTES: dict[int, str] = dict(sorted(SPEC_GLOBAL_ATTRIBUTES.items()))
ACCEPTED_COMMANDS: dict[int, Element] = {c.id: _element(c.name, c.conformance) for c in elements(_SPEC, "accepted")}
GENERATED_COMMANDS: dict[int, Element] = {c.id: _element(c.name, c.conformance) for c in elements(_SPEC, "generated")}
EVENTS: dict[int, Element] = {e.id: _element(e.name, e.conformance) for e in elements(_SPEC, "event")}
MANUAL = ("ManuallyControlledPluggedIn",)
"""Manually controlled items (``EEVSE.S.M.*``): test-plan PICS the cluster XML does not carry."""


def feature_code(bit: int, cluster: str = EEVSE) -> str:
    """``EEVSE.S.F03`` for feature bit 3."""
    return f"{cluster}.S.F{bit:02X}"


def attribute_code(attribute_id: int, cluster: str = EEVSE) -> str:
    """``EEVSE.S.A000A`` for attribute 0x000A (four upper-case hex digits)."""
    return f"{cluster}.S.A{attribute_id:04X}"


def accepted_command_code(command_id: int, cluster: str = EEVSE) -> str:
    """``EEVSE.S.C04.Rsp`` for accepted command 0x04."""
    return f"{cluster}.S.C{command_id:02X}.Rsp"


def generated_command_code(command_id: int, cluster: str = EEVSE) -> str:
    """``EEVSE.S.C00.Tx`` for generated command 0x00."""
    return f"{cluster}.S.C{command_id:02X}.Tx"


def event_code(event_id: int, cluster: str = EEVSE) -> str:
    """``EEVSE.S.E05`` for event 0x05."""
    return f"{cluster}.S.E{event_id:02X}"


def _known_eevse_keys() -> dict[str, tuple[str, str, str, str]]:
    """Every EEVSE server code the rig knows: code -> (section, description, status, condition)."""
    known: dict[str, tuple[str, str, str, str]] = {f"{EEVSE}.S": ("usage", f"{CLUSTER_NAME} server", "M", "")}
    for bit, (short, name, status) in FEATURES.items():
        known[feature_code(bit)] = ("features", name if name == short else f"{name} ({short})", status, "")
    for aid, (name, status, cond) in ATTRIBUTES.items():
        known[attribute_code(aid)] = ("attributes", name, status, cond)
    for aid, name in GLOBAL_ATTRIBUTES.items():
        known[attribute_code(aid)] = ("attributes", name, "M", "")
    for cid, (name, status, cond) in ACCEPTED_COMMANDS.items():
        known[accepted_command_code(cid)] = ("commandsReceived", name, status, cond)
    for cid, (name, status, cond) in GENERATED_COMMANDS.items():
        known[generated_command_code(cid)] = ("commandsGenerated", name, status, cond)
    for eid, (name, status, cond) in EVENTS.items():
        known[event_code(eid)] = ("events", name, status, cond)
    for name in MANUAL:
        known[f"{EEVSE}.S.M.{name}"] = ("manually", name, "O", "")
    return known


KNOWN_EEVSE = _known_eevse_keys()

# -- key grammar ---------------------------------------------------------------------------------------------
_CLUSTER_PREFIX = re.compile(r"^[A-Z][A-Z0-9]*\.[SC]\.")
_HEX_ELEMENT = re.compile(r"\.(?P<kind>[AFCE])(?P<hex>[0-9A-Fa-f]+)(?=\.|$)")
_ELEMENT = r"(?:F[0-9A-F]{2}|A[0-9A-F]{4}|C[0-9A-F]{2}\.(?:Rsp|Tx)|E[0-9A-F]{2}|[MO]\.[A-Za-z0-9_]+)"
CLUSTER_KEY = re.compile(rf"^(?P<cluster>[A-Z][A-Z0-9]*)\.(?P<side>[SC])(?:\.{_ELEMENT})?$")
GENERAL_KEY = re.compile(r"^(?:MCORE\.[A-Z0-9_]+(?:\.[A-Za-z0-9_]+)*|PICS_[A-Z0-9_]+)$")


def normalize_key(key: str) -> str:
    """Return ``key`` stripped, with the hex digits of its element codes in upper case (``A000a`` -> ``A000A``)."""
    key = key.strip()
    if not _CLUSTER_PREFIX.match(key):
        return key
    return _HEX_ELEMENT.sub(lambda m: f".{m['kind']}{m['hex'].upper()}", key)


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a PICS code the rig knows (None when it is fine)."""
    if not (CLUSTER_KEY.match(key) or GENERAL_KEY.match(key)):
        return "does not look like a PICS code (CLUSTER.S, CLUSTER.S.Fxx/Axxxx/Cxx.Rsp/Cxx.Tx/Exx, MCORE.*)"
    if key.startswith(f"{EEVSE}.S") and key not in KNOWN_EEVSE:
        return f"is not an {CLUSTER_NAME} (0x{EEVSE_CLUSTER_ID:04X}, revision {_SPEC.revision}) server PICS code"
    return None


# -- the PICS of a DUT ---------------------------------------------------------------------------------------
@dataclass
class Pics:
    """The PICS of a DUT, as read from a file.

    Attributes:
        items: key -> supported, in file order (last definition wins).
        source: the file, folder or zip read; None for ``Pics.everything()``.
        warnings: one line per unknown key (``file:line: KEY ...``).
        permissive: True for ``Pics.everything()``: ``check`` is True for every key (no PICS file given: every
            case and every optional step runs, and the DUT's behaviour decides).
    """

    items: dict[str, bool] = field(default_factory=dict)
    source: Path | None = None
    warnings: list[str] = field(default_factory=list)
    permissive: bool = False
    dut: DutElements | None = None

    @classmethod
    def everything(cls) -> Pics:
        """The stand-in when no PICS file is given and no DUT can be read: every key is supported."""
        return cls(permissive=True)

    def why_not(self, key: str) -> str:
        """Why ``key`` is not supported, for a skip reason.

        ``PICS EEVSE.S.F04 not supported (PICS file dut.xml)`` for a file; for PICS derived from the DUT, what
        the DUT lacks, e.g. ``PICS EEVSE.S.F04 not supported: the DUT's FeatureMap lacks V2X (bit 4)``.
        """
        key = normalize_key(key)
        if self.dut is not None:
            return f"PICS {key} not supported: {_what(key, False)} (PICS derived from the DUT, no PICS file given)"
        if self.source is not None:
            return f"PICS {key} not supported (PICS file {self.source.name})"
        return f"PICS {key} not supported"

    def check(self, key: str) -> bool:
        """Return True if ``key`` is supported; a missing key is not (as the SDK's ``check_pics``)."""
        return self.permissive or self.items.get(normalize_key(key), False)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys among ``keys`` that are not supported, in order."""
        return [k for k in keys if not self.check(k)]

    @property
    def supported(self) -> list[str]:
        """The supported keys, sorted."""
        return sorted(k for k, v in self.items.items() if v)

    def describe(self) -> str:
        """One line for a report header."""
        if self.permissive:
            return "no PICS file: every case and optional step applies"
        if self.dut is not None:
            return (
                f"no PICS file: derived from the DUT's FeatureMap 0x{self.dut.feature_map:X} and element lists, "
                f"{len(self.supported)} of {len(self.items)} items supported"
            )
        return f"{self.source}: {len(self.supported)} of {len(self.items)} items supported"


_CODE = re.compile(rf"^{EEVSE}\.S(?:\.(?P<kind>[FAE])(?P<id>[0-9A-F]+)|\.C(?P<cmd>[0-9A-F]{{2}})\.(?P<dir>Rsp|Tx))?$")


def _what(key: str, has: bool) -> str:
    """``the DUT's FeatureMap lacks RFID (bit 3)`` and the like."""
    verb = "has" if has else "lacks"
    m = _CODE.match(key)
    if m is None or (m["kind"] is None and m["cmd"] is None):
        return f"the DUT {'serves' if has else 'does not serve'} the Energy EVSE cluster on its endpoint"
    if m["cmd"] is not None:
        cid = int(m["cmd"], 16)
        table, where = (
            (ACCEPTED_COMMANDS, "AcceptedCommandList")
            if m["dir"] == "Rsp"
            else (GENERATED_COMMANDS, "GeneratedCommandList")
        )
        return f"the DUT's {where} {verb} 0x{cid:02X} {table.get(cid, ('?', '', ''))[0]}"
    n = int(m["id"], 16)
    if m["kind"] == "F":
        short, name, _ = FEATURES.get(n, (f"bit {n}", "", ""))
        return f"the DUT's FeatureMap {verb} {short} (bit {n}{', ' + name if name and name != short else ''})"
    if m["kind"] == "A":
        return f"the DUT's AttributeList {verb} 0x{n:04X} {ATTRIBUTES.get(n, ('?', '', ''))[0]}"
    return f"the DUT's EventList {verb} 0x{n:02X} {EVENTS.get(n, ('?', '', ''))[0]}"


# -- reading ------------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    key: str
    value: bool
    where: str  # file:line


def _parse_text(text: str, name: str) -> list[_Entry]:
    out: list[_Entry] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"{name}:{n}: expected KEY=1 or KEY=0, got {raw.strip()!r}")
        if value not in ("0", "1"):
            raise ConfigError(f"{name}:{n}: PICS {key} must have the value 0 or 1, got {value!r}")
        out.append(_Entry(key, value == "1", f"{name}:{n}"))
    return out


def _support_value(text: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())


def _parse_xml(data: bytes, name: str) -> list[_Entry]:
    """Every ``<picsItem>`` of one XML document (expat, so that errors and items carry their line)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    out: list[_Entry] = []
    stack: list[str] = []
    item: dict[str, str | int] | None = None
    text: list[str] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        nonlocal item
        stack.append(tag)
        text.clear()
        if tag == "picsItem":
            item = {"line": parser.CurrentLineNumber}

    def end(tag: str) -> None:
        nonlocal item
        stack.pop()
        if item is not None and tag in ("itemNumber", "support") and stack and stack[-1] == "picsItem":
            item[tag] = "".join(text).strip()
            item[f"{tag}_line"] = parser.CurrentLineNumber
        elif tag == "picsItem" and item is not None:
            line = item["line"]
            key, support = str(item.get("itemNumber", "")), item.get("support")
            if not key:
                raise ConfigError(f"{name}:{line}: <picsItem> without an <itemNumber> text")
            if support is None:
                raise ConfigError(f"{name}:{line}: <picsItem> {key} has no <support> element")
            value = _support_value(str(support))
            if value is None:
                raise ConfigError(
                    f"{name}:{item['support_line']}: <support> of {key} must be true, false, 1 or 0, got {support!r}"
                )
            out.append(_Entry(key, value, f"{name}:{line}"))
            item = None
        text.clear()

    def doctype(*_args: object) -> None:
        raise ConfigError(f"{name}:{parser.CurrentLineNumber}: a DOCTYPE in PICS XML is refused (no entities, no DTD)")

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(data, True)
    except LookupError as exc:  # an encoding Python does not know, named in the XML declaration
        raise ConfigError(f"{name}:1: the XML declaration names an unknown encoding ({exc})") from None
    except expat.ExpatError as exc:
        raise ConfigError(
            f"{name}:{exc.lineno}: not well-formed PICS XML ({expat.errors.messages[exc.code]}, column {exc.offset})"
        ) from None
    return out


def _parse_document(data: bytes, name: str) -> list[_Entry]:
    """XML if the document starts with ``<``, else the text form."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{name}:{line}: not UTF-8 text ({exc.reason})") from None
    if text.lstrip().startswith("<"):
        return _parse_xml(data, name)
    return _parse_text(text, name)


def _folder_order(paths: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    """The SDK's folder layout: top-level ``*.xml`` (sorted), then each immediate sub-folder's XML at any depth.

    Sub-folders with numeric names (endpoints) come first, in numeric order, then the others by name.
    """
    xml = [p for p in paths if p.suffix.lower() == ".xml" and not p.name.startswith(".")]
    top = sorted(p for p in xml if len(p.parts) == 1)
    subs: dict[str, list[PurePosixPath]] = {}
    for p in xml:
        if len(p.parts) > 1:
            subs.setdefault(p.parts[0], []).append(p)

    def sub_key(name: str) -> tuple[int, int, str]:
        return (0, int(name), "") if name.isdigit() else (1, 0, name)

    return top + [p for s in sorted(subs, key=sub_key) for p in sorted(subs[s])]


MAX_PICS_BYTES = 16 << 20
"""Largest PICS file, zip archive or zip member read, bytes (a full device's PICS XML is well under 1 MB)."""
MAX_PICS_TOTAL = 64 << 20
"""Most bytes read from all the files of a PICS folder or zip together."""
MAX_PICS_FILES = 1000
"""Most files in a PICS folder or zip archive."""


def _read_file(path: Path) -> bytes:
    try:
        return read_input(path, limit=MAX_PICS_BYTES, what="PICS file", error=ConfigError)
    except FileNotFoundError:
        raise ConfigError(f"PICS {path}: no such file or folder (dut.pics in rig.yaml, or --pics)") from None


def _read_folder(path: Path) -> list[_Entry]:
    rel: dict[PurePosixPath, Path] = {}
    for p in path.rglob("*"):  # symlinked folders are not followed (no loops)
        if p.is_file():
            rel[PurePosixPath(p.relative_to(path).as_posix())] = p
            if len(rel) > MAX_PICS_FILES:
                raise ConfigError(f"PICS {path}: more than {MAX_PICS_FILES} files; is this the right folder?")
    order = _folder_order(rel)
    if not order:
        raise ConfigError(f"PICS {path}: no PICS XML file (*.xml) in this folder or its sub-folders")
    entries: list[_Entry] = []
    total = 0
    for r in order:
        data = _read_file(rel[r])
        total += len(data)
        if total > MAX_PICS_TOTAL:
            raise ConfigError(f"PICS {path}: more than {MAX_PICS_TOTAL} bytes of XML files; is this the right folder?")
        entries += _parse_document(data, str(rel[r]))
    return entries


def _read_zip(data: bytes, path: Path) -> list[_Entry]:
    """The PICS XML files of a zip archive; bounded in members, bytes per member and bytes in all."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_PICS_FILES:
            raise ConfigError(f"PICS {path}: more than {MAX_PICS_FILES} members in this zip archive")
        names: dict[PurePosixPath, zipfile.ZipInfo] = {}
        for info in infos:
            member = PurePosixPath(info.filename.replace("\\", "/"))
            if member.is_absolute() or ".." in member.parts or ":" in info.filename:
                raise ConfigError(f"PICS {path}: member {info.filename!r} names a place outside the archive; refused")
            names[member] = info
        order = _folder_order(names)
        if not order:
            raise ConfigError(f"PICS {path}: no PICS XML file (*.xml) in this zip archive")
        entries: list[_Entry] = []
        total = 0
        for r in order:
            info = names[r]
            where = f"{path}:{info.filename}"
            if info.file_size > MAX_PICS_BYTES:
                raise ConfigError(
                    f"PICS {where}: {info.file_size} bytes unpacked is too large (at most {MAX_PICS_BYTES})"
                )
            with zf.open(info) as member_file:
                content = member_file.read(MAX_PICS_BYTES + 1)  # the declared size may lie
            if len(content) > MAX_PICS_BYTES:
                raise ConfigError(f"PICS {where}: more than {MAX_PICS_BYTES} bytes unpacked is too large")
            total += len(content)
            if total > MAX_PICS_TOTAL:
                raise ConfigError(f"PICS {path}: more than {MAX_PICS_TOTAL} bytes unpacked in all (a zip bomb?)")
            entries += _parse_document(content, where)
        return entries


def _read_entries(path: Path) -> list[_Entry]:
    if path.is_dir():
        return _read_folder(path)
    data = _read_file(path)
    if data.startswith(b"PK") and zipfile.is_zipfile(io.BytesIO(data)):
        return _read_zip(data, path)
    return _parse_document(data, str(path))


def load_pics(path: str | Path) -> Pics:
    """Read a PICS file (XML or text), a folder of PICS XML files or a zip archive of them.

    Args:
        path: the file, folder or zip.

    Returns:
        The PICS; ``warnings`` lists each unknown key with its file and line (also logged).

    Raises:
        ConfigError: the path does not exist; it is not a regular file, folder or zip (a FIFO, a symbolic link loop),
            is too large, holds no PICS item or no PICS code at all; a zip is damaged, bombs or names members outside
            itself; a file is malformed (the message names the file and line).
    """
    path = Path(path).expanduser()
    try:
        entries = _read_entries(path)
    except OSError as exc:
        raise ConfigError(f"PICS {path}: cannot read it ({exc.strerror or exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ConfigError(f"PICS {path}: damaged zip archive ({exc})") from None
    except (NotImplementedError, RuntimeError) as exc:  # an unknown compression method, an encrypted member
        raise ConfigError(f"PICS {path}: cannot unpack the zip archive ({exc})") from None
    if not entries:
        raise ConfigError(
            f"PICS {path}: no PICS items in it (a PICS file holds <picsItem> elements or KEY=1|0 lines); "
            "is this the right file?"
        )
    if not any(CLUSTER_KEY.match(normalize_key(e.key)) or GENERAL_KEY.match(e.key.strip()) for e in entries):
        raise ConfigError(
            f"PICS {path}: none of its {len(entries)} keys is a PICS code (e.g. {EEVSE}.S.F00, MCORE.*); "
            "is this the right file?"
        )
    pics = Pics(source=path)
    seen_problem: set[str] = set()
    for e in entries:
        key = normalize_key(e.key)
        pics.items.pop(key, None)  # last definition wins and moves to the end
        pics.items[key] = e.value
        problem = key_problem(key)
        if problem and key not in seen_problem:
            seen_problem.add(key)
            pics.warnings.append(f"{e.where}: {key} {problem}")
    for w in pics.warnings:
        log.warning("PICS: %s", w)
    return pics
