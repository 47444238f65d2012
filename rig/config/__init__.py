"""rig.yaml: the typed, strict model (:mod:`.schema`, bench sections in :mod:`.bench`), loading with precedence
(:mod:`.loading`) and the wording of problems (:mod:`.messages`)."""

from __future__ import annotations

from rig.config.bench import EvEmulatorConfig, InstrumentConfig, transport_params
from rig.config.loading import apply_overrides, config_from_dict, config_json_schema, load_config, parse_override
from rig.config.schema import (
    DEFAULT_CONFIG_NAME,
    Dut,
    Pixit,
    Report,
    RigConfig,
    Station,
    Timeouts,
    VirtualEvse,
    known_defects,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "Dut",
    "EvEmulatorConfig",
    "InstrumentConfig",
    "Pixit",
    "Report",
    "RigConfig",
    "Station",
    "Timeouts",
    "VirtualEvse",
    "apply_overrides",
    "config_from_dict",
    "config_json_schema",
    "known_defects",
    "load_config",
    "parse_override",
    "transport_params",
]
