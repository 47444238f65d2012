"""Readable rig.yaml problems: pydantic errors turned into ``rig.yaml: dut.endpoint: ...`` lines.

Split from :mod:`rig.config` (the models and the loader) along the seam "how problems are worded". Nothing here
knows a concrete section: the functions walk the model tree from the root model they are given, through
sections, ``dict`` values (roles), lists and discriminated unions (``transport: {kind: ...}``), so a path is
always written as the user wrote it in YAML (the union's tag never appears in it).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from rig.redaction import redact_url

Loc = tuple[str | int, ...]

INTERNAL_FIELDS = ("config_path", "raw_digest")
"""Fields set by the loader, never written in the file (hidden from "allowed keys")."""

_EXPECTED = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "an integer"),
    **dict.fromkeys(("float_type", "float_parsing"), "a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "a boolean (true/false)"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a mapping"),
    "string_type": "a string",
    "list_type": "a list",
    "path_type": "a path (string)",
}


class LocatedErrors(ValueError):  # a carrier of problems, raised inside pydantic validators
    """Problems found by a cross-field validator, each at its own path relative to the validated section.

    Raised from a ``model_validator(mode="after")``; pydantic keeps the exception in the error's context and
    :func:`format_error` writes one line per problem at ``<section path>.<relative path>``.
    """

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(f"{loc_text(loc)}: {msg}" for loc, msg in problems))
        self.problems = list(problems)


def problem_text(lines: list[str]) -> str:
    """Join problem lines: one line as is, several under a ``N problems:`` header."""
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)


def loc_text(loc: Loc) -> str:
    """Write a location the YAML way: ``dut.timeouts.event``, ``virtual_evse.features[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def show(value: Any) -> str:
    """Repr a value, shortened to 60 characters, URL passwords masked."""
    text = redact_url(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def find_model(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model inside an annotation (``Section``, ``Section | None``, ``list[Section]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = find_model(arg)
        if found is not None:
            return found
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``| None``."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def union_tags(annotation: Any, discriminator: str = "kind") -> dict[str, type[BaseModel]]:
    """Tag value -> member model of a discriminated union (empty if ``annotation`` is not one)."""
    annotation = _unwrap(annotation)
    if get_origin(annotation) not in (Union, types.UnionType):
        return {}
    tags: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        member = _unwrap(member)
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            return {}
        field = member.model_fields.get(discriminator)
        if field is None or get_origin(field.annotation) is not Literal:
            return {}
        tags.update(dict.fromkeys(get_args(field.annotation), member))
    return tags


def walk(root: type[BaseModel], loc: Loc) -> tuple[Loc, Any]:
    """Follow a pydantic error location from ``root``.

    Returns:
        The location as written in YAML (discriminated-union tags removed) and the annotation found there
        (``None`` when the location leaves the model tree).
    """
    annotation: Any = root
    clean: list[str | int] = []
    for part in loc:
        annotation = _unwrap(annotation)
        tags = union_tags(annotation)
        if tags and part in tags:
            annotation = tags[str(part)]  # pydantic inserts the tag into the path; YAML has no such level
            continue
        clean.append(part)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            annotation = field.annotation if field is not None else None
        elif origin is dict:
            annotation = get_args(annotation)[1] if part != "[key]" else None
        elif origin is list:
            annotation = get_args(annotation)[0]
        else:
            annotation = None
    return tuple(clean), annotation


def allowed_keys(root: type[BaseModel], loc: Loc) -> list[str]:
    """Keys allowed in the section at ``loc`` (empty if ``loc`` is not a section)."""
    _, annotation = walk(root, loc)
    annotation = _unwrap(annotation)
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return []
    return [name for name in annotation.model_fields if name not in INTERNAL_FIELDS]


def format_error(err: ErrorDetails, root: type[BaseModel], src: str, overrides: Mapping[str, Any]) -> list[str]:
    """Word one pydantic error as ``<src>: <yaml path>: <message>`` lines (several for :class:`LocatedErrors`)."""
    raw_loc = tuple(err["loc"])
    loc, annotation = walk(root, raw_loc)
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    problems: list[tuple[Loc, str]]
    if kind == "extra_forbidden":
        problems = [(loc, f"unknown key {loc[-1]!r}; allowed keys: {', '.join(allowed_keys(root, raw_loc[:-1]))}")]
    elif kind in ("literal_error", "enum"):
        problems = [(loc, f"invalid value {show(value)}; allowed values: {ctx.get('expected')}")]
    elif kind == "union_tag_invalid":
        problems = [
            ((*loc, "kind"), f"invalid value {show(ctx.get('tag'))}; allowed values: {ctx.get('expected_tags')}")
        ]
    elif kind == "union_tag_not_found":
        tags = ", ".join(repr(t) for t in union_tags(annotation))
        problems = [((*loc, "kind"), f"required key is missing; allowed values: {tags}")]
    elif kind == "missing":
        message = "required key is missing"
        if allowed_keys(root, raw_loc):
            message += f" (write `{loc[-1]}: {{}}` for the defaults)"
        problems = [(loc, message)]
    elif kind in _EXPECTED:
        problems = [(loc, f"expected {_EXPECTED[kind]}, got {type(value).__name__} {show(value)}")]
    elif kind in ("value_error", "assertion_error") and isinstance(ctx.get("error"), LocatedErrors):
        problems = [(loc + rel, msg) for rel, msg in ctx["error"].problems]
    elif kind in ("value_error", "assertion_error") and "error" in ctx:
        problems = [(loc, str(ctx["error"]))]
    else:
        msg = err["msg"]
        problems = [(loc, f"{msg[:1].lower()}{msg[1:]}, got {show(value)}")]
    return [_line(src, where, message, overrides) for where, message in problems]


def _line(src: str, loc: Loc, message: str, overrides: Mapping[str, Any]) -> str:
    where = loc_text(loc)
    for key, override in overrides.items():
        if where == key or where.startswith((f"{key}.", f"{key}[")):
            message += f" (set by override {key}={redact_url(repr(override))})"
            break
    return f"{src}: {where}: {message}"
