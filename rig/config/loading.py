"""Loading rig.yaml: YAML parsing (strict, no duplicate keys), ${RIG_*} substitution, overrides, validation."""

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
from rig.config.schema import _ENV_REF, DEFAULT_CONFIG_NAME, RigConfig
from rig.errors import ConfigError


# ------------------------------------------------------------------------------------------------ precedence
def parse_override(text: str) -> tuple[str, Any]:
    """Parse a ``dotted.path=value`` command-line override; the value is read as a YAML scalar or flow list.

    Example: ``"virtual_evse.defects=[a, b]"`` -> ``("virtual_evse.defects", ["a", "b"])``.

    Raises:
        ConfigError: no ``=`` or an unparsable value.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like dotted.path=value, e.g. dut.endpoint=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from None
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
    ``os.environ``; other names are left as written; like the shell, ``:-`` also applies to an empty value).
    Then each dotted-path override replaces the value at that path, creating sections as needed.

    Args:
        data: the parsed YAML mapping (not modified).
        overrides: dotted path -> value, e.g. ``{"dut.endpoint": 2}``.
        environ: environment to read ``RIG_*`` variables from.
        source: file name used in messages.

    Returns:
        A new mapping ready for validation.

    Raises:
        ConfigError: an unset variable without default, or an override crossing a non-mapping value.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    result = _substitute(dict(data), (), env, problems, source)  # builds new containers
    for dotted, value in (overrides or {}).items():
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
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        current = env.get(name)
        if current is not None and (current != "" or default is None):
            return current
        if default is not None:
            return default
        problems.append(
            f"{src}: {loc_text(loc)}: environment variable {name} is not set; set it or write ${{{name}:-default}}"
        )
        return match.group(0)

    return _ENV_REF.sub(replace, value)


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


def _parse_yaml(text: str, src: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{src}: YAML syntax error{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{src}: YAML error: {exc}") from None
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
    cfg_path = Path(DEFAULT_CONFIG_NAME if path is None else path).expanduser().resolve()
    src = cfg_path.name
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{cfg_path}: bench description not found; create it (the repository's rig.yaml describes the "
            "virtual bench) or pass the right path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: cannot read: {exc.strerror or exc}") from None
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
