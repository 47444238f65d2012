"""Writing PICS in both forms: the CSA XML and the KEY=1|0 text."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from rig.pics.reading import CLUSTER_NAME, CLUSTER_TITLE, EEVSE, EEVSE_CLUSTER_ID, FEATURES, KNOWN_EEVSE, feature_code

# -- writing -------------------------------------------------------------------------------------------------
_SECTIONS = ("attributes", "events", "commandsReceived", "commandsGenerated", "features", "manually")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def write_pics_xml(items: Mapping[str, bool], path: str | Path, *, name: str = f"{CLUSTER_NAME} Cluster") -> Path:
    """Write ``items`` as a CSA cluster PICS XML file (``<clusterPICS>``, one ``<picsItem>`` per key).

    Energy EVSE server codes go into their ``<clusterSide type="Server">`` section with description, status and
    condition; ``EEVSE.S`` and any other key go into ``<usage>``.

    Returns:
        The path written.
    """
    path = Path(path)
    by_section: dict[str, list[str]] = {s: [] for s in ("usage", *_SECTIONS)}
    for key, value in items.items():
        section, desc, status, cond = KNOWN_EEVSE.get(key, ("usage", key, "O", ""))
        pad = " " * (4 if section == "usage" else 6)
        cond_attr = f' cond="{escape(_cond_pics(cond), {chr(34): "&quot;"})}"' if cond else ""
        by_section[section].append(
            f"{pad}<picsItem>\n"
            f"{pad}  <itemNumber>{escape(key)}</itemNumber>\n"
            f"{pad}  <feature>{escape(desc)}</feature>\n"
            f"{pad}  <reference>{CLUSTER_TITLE}</reference>\n"
            f"{pad}  <status{cond_attr}>{status}</status>\n"
            f"{pad}  <support>{'true' if value else 'false'}</support>\n"
            f"{pad}</picsItem>\n"
        )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        "<clusterPICS>\n",
        f"  <name>{escape(name)}</name>\n",
        f"  <clusterId>0x{EEVSE_CLUSTER_ID:04X}</clusterId>\n",
        f"  <picsRoot>{EEVSE}</picsRoot>\n",
        "  <pixit></pixit>\n",
        "  <usage>\n",
        *by_section["usage"],
        "  </usage>\n",
        '  <clusterSide type="Server">\n',
    ]
    for section in _SECTIONS:
        parts += [f"    <{section}>\n", *by_section[section], f"    </{section}>\n"]
    parts += ["  </clusterSide>\n", "</clusterPICS>\n"]
    _write_atomic(path, "".join(parts))
    return path


def _cond_pics(condition: str) -> str:
    """A conformance condition in PICS codes: ``V2X`` -> ``EEVSE.S.F04``; in an expression each feature is replaced."""
    bits = {code: bit for bit, (code, _name, _status) in FEATURES.items()}
    return _NAME.sub(lambda m: feature_code(bits[m[0]]) if m[0] in bits else m[0], condition)


def write_pics_text(items: Mapping[str, bool], path: str | Path, *, header: Sequence[str] = ()) -> Path:
    """Write ``items`` as ``KEY=1|0`` lines (ci-pics-values style), each known code commented with its name.

    Returns:
        The path written.
    """
    path = Path(path)
    lines = [f"# {h}" for h in header]
    for key, value in items.items():
        desc = KNOWN_EEVSE.get(key, ("", "", "", ""))[1]
        lines.append(f"{key}={1 if value else 0}" + (f"  # {desc}" if desc else ""))
    _write_atomic(path, "\n".join(lines) + "\n")
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` whole or not at all: a temporary file beside it, then a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain write would make it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
