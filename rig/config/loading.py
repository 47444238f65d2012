"""Loading rig.yaml: YAML parsing (strict, no duplicate keys), ${RIG_*} substitution, overrides, validation.

Hostile or careless files are refused before they cost anything: a file over :data:`MAX_CONFIG_BYTES`, a document
whose aliases would expand to more than :data:`MAX_NODES` values (a "billion laughs" alias bomb) or refer to
themselves, nesting deeper than :data:`MAX_DEPTH`, and ``${RIG_*}`` references nested deeper than
:data:`MAX_ENV_DEPTH`, each with a message naming the file and line.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from rig.config.messages import INTERNAL_FIELDS, allowed_keys, format_error, loc_text, problem_text
from rig.config.schema import DEFAULT_CONFIG_NAME, RigConfig
from rig.errors import ConfigError
from rig.inputs import read_input
from rig.redaction import redact_url

MAX_CONFIG_BYTES = 1_000_000
"""Largest rig.yaml read (a hand-written bench description is a few kilobytes)."""
MAX_NODES = 100_000
"""Most values a rig.yaml may hold once its aliases are expanded."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in rig.yaml."""
MAX_ENV_DEPTH = 8
"""Deepest nesting of ``${RIG_A:-${RIG_B:-...}}`` defaults."""


# ------------------------------------------------------------------------------------------------ precedence
def parse_override(text: str) -> tuple[str, Any]:
    """Parse a ``dotted.path=value`` command-line override; the value is read as a YAML scalar or flow list.

    Example: ``"virtual_evse.defects=[a, b]"`` -> ``("virtual_evse.defects", ["a", "b"])``.

    Raises:
        ConfigError: no ``=`` or an unparsable value.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    shown = redact_url(repr(text))  # a database URL's password stays out of the message
    if not sep or not key:
        raise ConfigError(f"override {shown} must look like dotted.path=value, e.g. dut.endpoint=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.MarkedYAMLError as exc:
        where = f" at column {exc.problem_mark.column + 1}" if exc.problem_mark is not None else ""
        raise ConfigError(f"override {shown}: value is not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"override {shown}: value is not valid YAML: {first}") from None
    return key, value


def apply_overrides(
    data: Mapping[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    source: str = DEFAULT_CONFIG_NAME,
) -> dict[str, Any]:
    """Apply the configuration layers to raw rig.yaml data: CLI overrides > ``RIG_*`` environment > file.

    ``${RIG_NAME}`` and ``${RIG_NAME:-default}`` in string values are replaced from ``environ`` (default
    ``os.environ``; other names are left as written; like the shell, ``:-`` also applies to an empty value). A
    default may itself hold references, ``${RIG_A:-${RIG_B:-text}}`` (up to :data:`MAX_ENV_DEPTH` deep), whose
    variables need to be set only when the default is used; a value taken from the environment is used as it is,
    never expanded again. Then each dotted-path override replaces the value at that path, creating sections as
    needed; ``config_path`` and ``raw_digest`` are the loader's and cannot be overridden.

    Args:
        data: the parsed YAML mapping (not modified).
        overrides: dotted path -> value, e.g. ``{"dut.endpoint": 2}``.
        environ: environment to read ``RIG_*`` variables from.
        source: file name used in messages.

    Returns:
        A new mapping ready for validation.

    Raises:
        ConfigError: an unset variable without default, an unclosed ``${RIG_...``, an override of a loader field
            or one crossing a non-mapping value.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    result = _substitute(dict(data), (), env, problems, source)  # builds new containers
    for dotted, value in (overrides or {}).items():
        if dotted.split(".", 1)[0] in INTERNAL_FIELDS:
            allowed = ", ".join(allowed_keys(RigConfig, ()))
            problems.append(
                f"{source}: override {dotted!r}: {dotted.split('.', 1)[0]} is set by the loader, not by an override "
                f"(name the file with --config); allowed top-level keys: {allowed}"
            )
            continue
        _set_dotted(result, dotted, copy.deepcopy(value), problems, source)
    if problems:
        raise ConfigError(problem_text(problems))
    assert isinstance(result, dict)
    return result


def _substitute(value: Any, loc: tuple[str | int, ...], env: Mapping[str, str], problems: list[str], src: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*loc, k), env, problems, src) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), env, problems, src) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${RIG_" not in value:
        return value
    try:
        text, end = _expand(value, 0, env, 0, None)
    except _EnvProblem as exc:
        problems.append(f"{src}: {loc_text(loc)}: {exc}")
        return value
    assert end == len(value)
    return text


class _EnvProblem(Exception):
    """A ``${RIG_*}`` reference that cannot be filled (carries the message)."""


_REF_START = re.compile(r"\$\{(?P<name>RIG_[A-Za-z0-9_]*)")


def _expand(
    text: str, pos: int, env: Mapping[str, str], depth: int, closing: str | None, needed: bool = True
) -> tuple[str, int]:
    """Expand ``${RIG_NAME}`` / ``${RIG_NAME:-default}`` from ``pos``; defaults may hold references themselves.

    With ``closing`` set (inside a default) the scan stops at the first unmatched ``}``. A default is read (its
    syntax checked) even when its variable is set, but, as in the shell, the variables it names need to be set only
    when it is used (``needed``). Returns the expanded text and the position after what was read.
    """
    out: list[str] = []
    while pos < len(text):
        if closing is not None and text[pos] == "}":
            return "".join(out), pos
        match = _REF_START.match(text, pos)
        if match is None:
            out.append(text[pos])
            pos += 1
            continue
        name = match["name"]
        pos = match.end()
        default: str | None = None
        current = env.get(name)
        if text.startswith(":-", pos):
            if depth + 1 >= MAX_ENV_DEPTH:
                raise _EnvProblem(f"${{{name}:-...}} defaults nested more than {MAX_ENV_DEPTH} deep")
            default, pos = _expand(text, pos + 2, env, depth + 1, "}", needed and not current)
        if pos >= len(text) or text[pos] != "}":
            raise _EnvProblem(f"${{{name} is not closed: write ${{{name}}} or ${{{name}:-default}}")
        pos += 1
        if not needed:
            continue
        if current is not None and (current != "" or default is None):
            out.append(current)  # a value from the environment is used as is, never expanded again
        elif default is not None:
            out.append(default)
        else:
            raise _EnvProblem(f"environment variable {name} is not set; set it or write ${{{name}:-default}}")
    return "".join(out), pos


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, problems: list[str], src: str) -> None:
    parts = dotted.split(".")
    if not all(parts):
        problems.append(f"{src}: override {dotted!r}: empty key in dotted path")
        return
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            problems.append(f"{src}: override {dotted!r}: {where} is a {type(child).__name__}, not a section")
            return
        node = child
    node[parts[-1]] = value


# --------------------------------------------------------------------------------------------------- loading
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key; the base constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_graph(root: yaml.Node, src: str) -> None:
    """Refuse a composed document that expands to more than MAX_NODES values, nests deeper than MAX_DEPTH or holds
    an alias to itself, before anything is built from it (bounded work whatever the aliases)."""
    count = 0
    stack: list[tuple[yaml.Node, int, tuple[int, ...]]] = [(root, 0, ())]
    while stack:
        node, depth, ancestors = stack.pop()
        count += 1
        where = f"line {node.start_mark.line + 1}"
        if count > MAX_NODES:
            raise ConfigError(
                f"{src}: {where}: the document expands to more than {MAX_NODES} values (an alias bomb?); "
                "write the values out or use fewer aliases"
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"{src}: {where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.ScalarNode):
            continue
        if id(node) in ancestors:
            raise ConfigError(f"{src}: {where}: an alias refers to the value that contains it (a loop)")
        inner = (*ancestors, id(node))
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        stack.extend((child, depth + 1, inner) for child in children)


def _parse_yaml(text: str, src: str) -> dict[str, Any]:
    try:
        loader = _StrictLoader(text)  # a SafeLoader subclass; checks the characters first
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise ConfigError(f"{src}: line {line}: character {char!r} is not allowed in YAML") from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node, src)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{src}: YAML syntax error{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{src}: YAML error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{src}: nested too deeply to read (more than {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{src}: the top level must be a mapping of sections ({', '.join(allowed_keys(RigConfig, ()))}), "
            f"got a {type(data).__name__}"
        )
    return data


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RigConfig:
    """Read, layer and validate rig.yaml.

    Args:
        path: the file; ``None`` means ``./rig.yaml``.
        overrides: dotted path -> value, applied last (e.g. from the command line).
        environ: environment for ``${RIG_*}`` references; default ``os.environ``.

    Returns:
        The validated configuration, with ``config_path`` and ``raw_digest`` set.

    Raises:
        ConfigError: missing/unreadable file, YAML syntax error, or every validation problem found.
    """
    cfg_path = Path(
        os.path.realpath(Path(DEFAULT_CONFIG_NAME if path is None else path).expanduser())
    )  # no raise on a loop
    src = cfg_path.name
    try:
        raw = read_input(cfg_path, limit=MAX_CONFIG_BYTES, what="bench description (rig.yaml)", error=ConfigError)
    except FileNotFoundError:
        raise ConfigError(
            f"{cfg_path}: bench description not found; create it (the repository's rig.yaml describes the "
            "virtual bench) or pass the right path"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{src}: not UTF-8 text (byte {exc.start})") from None
    data = _parse_yaml(text, src)
    allowed = ", ".join(allowed_keys(RigConfig, ()))
    if problems := [f"{src}: {k}: unknown key {k!r}; allowed keys: {allowed}" for k in INTERNAL_FIELDS if k in data]:
        raise ConfigError(problem_text(problems))
    layered = apply_overrides(data, overrides=overrides, environ=environ, source=src)
    layered["config_path"] = cfg_path
    layered["raw_digest"] = hashlib.sha256(raw).hexdigest()
    return config_from_dict(layered, base_dir=cfg_path.parent, source=src, overrides=overrides)


def config_from_dict(
    data: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    source: str = DEFAULT_CONFIG_NAME,
    overrides: Mapping[str, Any] | None = None,
) -> RigConfig:
    """Validate already-layered rig.yaml data (no file, no environment); handy for tests and tools.

    Args:
        data: the mapping to validate.
        base_dir: folder relative paths are resolved against (left relative when None).
        source: file name used in messages.
        overrides: the overrides that were applied, so problems they caused say so.

    Raises:
        ConfigError: every validation problem, one per line.
    """
    context = {"base_dir": Path(base_dir).resolve() if base_dir is not None else None}
    try:
        return RigConfig.model_validate(data, context=context)
    except ValidationError as exc:
        lines = [
            line
            for err in exc.errors(include_url=False)
            for line in format_error(err, RigConfig, source, overrides or {})
        ]
        raise ConfigError(problem_text(list(dict.fromkeys(lines)))) from None


def config_json_schema() -> dict[str, Any]:
    """Return the JSON schema of rig.yaml (for editors: yaml-language-server, VS Code)."""
    schema = RigConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "rig.yaml"}
