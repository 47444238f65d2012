"""Making record strings safe for the outputs: no control characters, no lone surrogates, no unsafe links.

Record strings come partly from the DUT (its Basic Information, event data, error messages quoting its values).
HTML escaping (Jinja2's autoescape) handles markup; this module handles what escaping does not: C0/C1 control
characters and DEL (invalid in XML 1.0, a parse error in HTML), lone surrogates (which cannot be encoded as UTF-8)
and the bidirectional embedding, override and isolate controls (which make text read differently from what it is:
``"\\u202etxt.exe"``) are shown as ``\\xNN`` / ``\\uXXXX`` by :func:`clean`; tab, newline and carriage return stay.

On a terminal (``rig history``, ``rig compare``) escape sequences are commands: :func:`terminal_safe` also shows
tab, newline and carriage return, and the line and paragraph separators, so a value is one inert line.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

_BIDI = "\u202a-\u202e\u2066-\u2069"
_BAD = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufffe\uffff]")
_BAD_ON_TERMINAL = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff\ufffe\uffff]")


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _show(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    c = ord(ch)
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(text: str) -> str:
    """Return ``text`` with control characters, bidi controls, lone surrogates shown as escapes (``\\x07``)."""
    if text.isprintable():  # the fast path: most strings
        return text
    return _BAD.sub(_show, text)


def terminal_safe(value: Any) -> str:
    """Return ``value`` as inert text for one terminal line.

    Every control character (ESC, CSI, BEL, newline, carriage return, tab), bidirectional control, line or paragraph
    separator and lone surrogate is shown as an escape (``\\x1b``): nothing in it acts on the terminal.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return _BAD_ON_TERMINAL.sub(_show, text)


def clean_output(text: str) -> str:
    """Return a rendered page or fragment with :func:`clean` applied (one pass; markup has no control characters)."""
    return _BAD.sub(_show, text)


def safe_href(path: Any) -> str | None:
    """Return a link target built from a record field, or None when it is not safe to link.

    Safe: an ``http``/``https`` URL with a host, or a relative path inside the run folder (no scheme, not absolute,
    no ``..``, no backslash, no control character), percent-encoded.
    """
    if not isinstance(path, str) or not path or not path.isprintable() or "\\" in path:
        return None
    try:
        parts = urlsplit(path)
    except ValueError:
        return None
    if parts.scheme in ("http", "https"):
        return path if parts.netloc else None
    if parts.scheme or parts.netloc or path.startswith("/"):
        return None
    segments = path.split("/")
    if any(seg in ("..", ".") for seg in segments) or path.startswith("?"):
        return None
    return quote(path, safe="/-_.~")
