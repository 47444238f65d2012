"""``rig lab sync places.yaml``: the farm's places as code (the idea of labgrid's contrib/sync-places.py).

::

    places:
      bench-a:
        tags: {rig: virtual}
        matches:                       # exporter/group/cls/name, renamed for the rig's roles
          - {pattern: "bench-a/bench-a/MatterDevice/dut", name: dut}
          - {pattern: "bench-a/bench-a/RigScpiSocket/ac_source", name: ac_source}

Idempotent: a place that exists is kept, its tags set (others it has stay), a match it already has is not added
again. Nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rig.config.farm import PLACE_NAME, TAG_KEY, TAG_VALUE
from rig.errors import ConfigError
from rig.lab.coordinator import Coordinator


@dataclass(frozen=True)
class PlaceSpec:
    """One place of places.yaml."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    matches: list[tuple[str, str | None]] = field(default_factory=list)


def load_places(path: Path) -> list[PlaceSpec]:
    """Read places.yaml.

    Raises:
        ConfigError: unreadable, or a bad entry (named with its path in the file).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"places"} or not isinstance(data["places"], dict):
        raise ConfigError(f"{path}: expected one key, places: {{NAME: {{tags: ..., matches: [...]}}}}")
    out = []
    for name, body in data["places"].items():
        where = f"{path.name}: places.{name}"
        if not isinstance(name, str) or not PLACE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: not a place name (letters, digits, '_', '.', '-')")
        body = body or {}
        if not isinstance(body, dict) or set(body) - {"tags", "matches"}:
            raise ConfigError(f"{where}: allowed keys: tags, matches")
        tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        for k, v in tags.items():
            if not TAG_KEY.fullmatch(k) or not TAG_VALUE.fullmatch(v):
                raise ConfigError(f"{where}.tags.{k}: keys [a-z][a-z0-9_]+, values lowercase ({v!r})")
        matches: list[tuple[str, str | None]] = []
        for i, m in enumerate(body.get("matches") or []):
            if not isinstance(m, dict) or "pattern" not in m or set(m) - {"pattern", "name"}:
                raise ConfigError(f"{where}.matches[{i}]: expected {{pattern: exporter/group/cls[/name], name: ...}}")
            pattern = str(m["pattern"])
            if not 3 <= len(pattern.split("/")) <= 4:
                raise ConfigError(f"{where}.matches[{i}].pattern: {pattern!r} is not exporter/group/cls[/name]")
            matches.append((pattern, None if m.get("name") is None else str(m["name"])))
        out.append(PlaceSpec(name, tags, matches))
    return out


def sync_places(coordinator: Coordinator, specs: list[PlaceSpec]) -> list[str]:
    """Make the coordinator's places match ``specs`` (create, tag, add matches); returns what was changed."""
    done: list[str] = []
    places = coordinator.places()
    for spec in specs:
        have = places.get(spec.name)
        if have is None:
            coordinator.add_place(spec.name)
            done.append(f"created place {spec.name}")
            have_tags: dict[str, Any] = {}
            have_matches: set[str] = set()
        else:
            have_tags = have.tags
            have_matches = {p for p, _ in have.matches}
        if any(have_tags.get(k) != v for k, v in spec.tags.items()):
            coordinator.set_tags(spec.name, spec.tags)
            done.append(f"tagged {spec.name} " + " ".join(f"{k}={v}" for k, v in sorted(spec.tags.items())))
        for pattern, rename in spec.matches:
            if pattern not in have_matches:
                coordinator.add_match(spec.name, pattern, rename)
                done.append(f"{spec.name}: match {pattern}" + (f" as {rename}" if rename else ""))
    return done
