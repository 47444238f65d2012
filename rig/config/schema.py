"""Typed, strict model of ``rig.yaml``: the one description of the bench a run uses.

The file is read once by :func:`load_config` and the resulting frozen :class:`RigConfig` is handed to
everything else (bench, fixtures, report). Layers, lowest precedence first (see :func:`apply_overrides`):

1. the YAML file;
2. ``${RIG_NAME}`` / ``${RIG_NAME:-default}`` references in its string values, filled from the environment;
3. dotted-path overrides, e.g. from the command line (``{"dut.endpoint": 2}``).

Every problem is reported at once as a :class:`~rig.errors.ConfigError` whose lines read
``rig.yaml: dut.endpoint: ...``; unknown keys list the keys allowed at that level and bad enumerated values list
the allowed values. No pydantic traceback ever reaches the user.

The bench sections (``instruments``: role -> driver + transport + params, ``ev_emulator``) are modelled in
:mod:`rig.config.bench`; the wording of problems lives in :mod:`rig.config.messages`.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from rig import PROJECT_ROOT
from rig.config.bench import EvEmulatorConfig, InstrumentConfig, check_bench, refuse_bool_numbers
from rig.config.farm import FarmConfig
from rig.config.messages import LocatedErrors
from rig.errors import ConfigError

DEFAULT_CONFIG_NAME = "rig.yaml"
"""File read when :func:`load_config` is given no path (relative to the working directory)."""

DEFECTS_FILE = PROJECT_ROOT / "virtual_evse" / "defects.json"
"""Catalogue of defects the virtual EVSE can be started with (name -> description)."""

Stimulus = Literal["trigger", "emulator", "manual"]
"""How the EV is simulated: ``trigger`` = Matter test event triggers (as certification does); ``emulator`` = the
physical IEC 61851-1 EV emulator of ``ev_emulator``; ``manual`` = an operator plugs a real EV or tester when asked."""

Feature = Literal["PREF", "SOC", "PNC", "RFID", "V2X"]
"""Energy EVSE feature codes (FeatureMap bits 0..4)."""

ALL_FEATURES: tuple[Feature, ...] = get_args(Feature)

MAX_TIMEOUT_S = 3600.0
"""The longest wait rig.yaml may set, s (an hour: longer is a typo, and 1e308 s overflows every clock)."""
_INT64 = 2**63 - 1
_INVALID_PASSCODES = frozenset({d * 11111111 for d in range(10)} | {12345678, 87654321})
_MAX_NODE_ID = 0xFFFF_FFEF_FFFF_FFFF
_HEX_KEY = re.compile(r"[0-9a-fA-F]{32}")
_QR_PAYLOAD = re.compile(r"MT:[0-9A-Z.\-]+")
_STATION_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


# --------------------------------------------------------------------------------------------------- helpers
def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``~`` and make a relative path absolute against the YAML file's folder (if known)."""
    value = value.expanduser()
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(os.path.normpath(Path(base) / value))
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path; relative values are resolved against the folder holding rig.yaml."""


@functools.lru_cache(maxsize=1)
def _read_defects(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"defect catalogue {path} not found; is the repository complete?") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"defect catalogue {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"defect catalogue {path} must be a JSON object of name -> description")
    return tuple((str(k), v) for k, v in data.items())


def known_defects() -> dict[str, str]:
    """Return the defects the virtual EVSE knows (name -> description), from ``virtual_evse/defects.json``.

    Raises:
        ConfigError: the catalogue is missing or malformed.
    """
    return dict(_read_defects(DEFECTS_FILE))


def _check_defect(name: str) -> str:
    valid = known_defects()
    if name not in valid:
        raise ValueError(f"unknown defect {name!r}; valid defects: {', '.join(sorted(valid))}")
    return name


DefectName = Annotated[str, AfterValidator(_check_defect)]


class _Section(BaseModel):
    """Common settings of every rig.yaml section: strict keys, immutable, an empty section means defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        # `dut:` with every child commented out parses as None. Absent optional sections are validated from
        # None -> {} (not default_factory) so their defaults pass the same validators (paths resolved).
        data = refuse_bool_numbers(cls, {} if data is None else data)
        if isinstance(data, dict):
            absent = [
                name
                for name, info in cls.model_fields.items()
                if name not in data and not info.is_required() and _is_section(info.annotation)
            ]
            if absent:
                data = {**data, **dict.fromkeys(absent, None)}
        return data


def _is_section(annotation: Any) -> bool:
    """A section (``Model`` or ``Model | None``), not a collection of models such as ``dict[str, Model]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    args = get_args(annotation)
    return type(None) in args and any(isinstance(a, type) and issubclass(a, BaseModel) for a in args)


# ---------------------------------------------------------------------------------------------------- models
class Station(_Section):
    """Which bench this is; written in every report header. Its Matter fabric lives in ``state_dir``."""

    name: str = Field(
        default="virtual-bench",
        description="Bench name shown in reports; also the name of its state folder: letters, digits, '.', '_' and "
        "'-', at most 64, not starting with '.'.",
    )
    location: str | None = Field(default=None, description="Where the bench stands.")
    operator: str | None = Field(default=None, description="Who runs it.")
    state_dir: ConfigPath | None = Field(
        default=None,
        description="Folder holding the station's Matter fabric (the root CA private key, the controller's fabric "
        "table, one record per commissioned DUT); it must stay private (mode 0700, owned by the user running the "
        "rig). null = /var/lib/rig/<station name>.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _STATION_NAME.fullmatch(value) or value.startswith("."):
            raise ValueError(
                f"{value!r} cannot name a folder: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
            )
        return value


class Timeouts(_Section):
    """Bounded waits, in seconds (all > 0 and at most :data:`MAX_TIMEOUT_S`)."""

    commissioning: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S, description="Commissioning the DUT, s.")
    event: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S, description="Waiting for one Matter event, s.")
    command: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S, description="One Matter command or read/write, s.")
    dut_start: float = Field(
        default=30.0, gt=0, le=MAX_TIMEOUT_S, description="Virtual EVSE start-up until it is commissionable, s."
    )


class Pixit(_Section):
    """PIXIT values (implementation-specific test parameters) of the DUT."""

    test_event_trigger_key: str = Field(
        default="000102030405060708090a0b0c0d0e0f",
        description="GeneralDiagnostics enable key for test event triggers: 32 hex digits (16 bytes).",
    )
    extra: dict[str, str | int | bool] = Field(
        default_factory=dict, description="Other PIXIT values by name (integers within 64 bits)."
    )

    @field_validator("test_event_trigger_key", mode="before")
    @classmethod
    def _check_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.lower().startswith("0x"):
                text = text[2:]
            if not _HEX_KEY.fullmatch(text):
                raise ValueError(
                    f"must be exactly 32 hex digits (16 bytes), got {value!r} ({len(text)} characters); "
                    "quote it in YAML"
                )
            return text.lower()
        return value

    @field_validator("extra", mode="before")
    @classmethod
    def _check_extra(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(item, str | int | bool):
                    raise ValueError(
                        f"value of {key!r} must be a string, an integer or a boolean, got {type(item).__name__}"
                    )
                if isinstance(item, int) and not -_INT64 - 1 <= item <= _INT64:
                    raise ValueError(f"value of {key!r} must fit in 64 bits, got {item}")
        return value

    @property
    def test_event_trigger_key_bytes(self) -> bytes:
        """Get the test event trigger enable key as 16 bytes."""
        return bytes.fromhex(self.test_event_trigger_key)


FIRMWARE_PLACEHOLDERS: dict[str, str] = {
    "image": "the OTA image file, absolute path",
    "payload": "a file holding the image's payload (the vendor's binary, without the OTA header), absolute path",
    "software_version": "the image's SoftwareVersion (decimal)",
    "software_version_string": "the image's SoftwareVersionString",
    "vendor_id": "the image's vendor id (decimal)",
    "product_id": "the image's product id (decimal)",
    "node_id": "the DUT's operational node id (decimal)",
}
"""The placeholders ``dut.firmware.command`` may hold (``{name}``; ``{{`` and ``}}`` are literal braces)."""


def command_placeholders(word: str) -> list[str]:
    """The placeholder names in one word of ``dut.firmware.command``.

    Raises:
        ValueError: a malformed brace, a format spec or conversion, or an unknown placeholder (named, with the allowed
            ones).
    """
    import string

    try:
        parts = list(string.Formatter().parse(word))
    except ValueError as exc:
        raise ValueError(f"{word!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
    names: list[str] = []
    allowed = ", ".join("{" + name + "}" for name in FIRMWARE_PLACEHOLDERS)
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIRMWARE_PLACEHOLDERS:
            raise ValueError(f"{word!r}: unknown placeholder {{{name}}}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(f"{word!r}: placeholder {{{name}}} takes no format spec or conversion")
        names.append(name)
    return names


class DutFirmware(_Section):
    """How ``rig firmware install`` and ``rig regress`` install a build on the DUT (docs/firmware.md)."""

    method: Literal["ota", "command"] = Field(
        default="ota",
        description="ota = over Matter OTA (the rig's OTA provider; only a newer version); command = the vendor's "
        "flashing command (a serial/USB/JTAG flasher run on the rig's machine; any version, downgrades included).",
    )
    command: list[str] = Field(
        default_factory=list,
        description="method: command: the flasher's argv (a list, run without a shell); words may hold the "
        "placeholders " + ", ".join("{" + k + "} (" + v + ")" for k, v in FIRMWARE_PLACEHOLDERS.items()) + ".",
    )
    timeout: float = Field(
        default=600.0,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="Bound on the flashing command, s (then its process group is killed and the install fails).",
    )
    keeps_fabrics: bool = Field(
        default=True,
        description="Whether the flasher keeps the DUT's fabrics (its operational data): true = the rig reaches it "
        "again over CASE afterwards; false = the flasher erases them and the rig commissions the DUT again with "
        "dut.passcode/discriminator (or dut.setup_code).",
    )

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if value and not value[0].strip():
            raise ValueError("the first word (the program) is empty")
        for word in value:
            command_placeholders(word)
        if value and command_placeholders(value[0]):
            raise ValueError(f"the first word (the program) may not hold a placeholder: {value[0]!r}")
        return value

    @model_validator(mode="after")
    def _command_given(self) -> DutFirmware:
        if self.method == "command" and not self.command:
            raise ValueError(
                "method: command needs command: the flasher's argv as a list, e.g. "
                "[vendor-flash, --port, /dev/ttyUSB0, '{image}']"
            )
        return self


class Dut(_Section):
    """The device under test and how the rig reaches it."""

    kind: Literal["virtual", "network"] = Field(
        default="virtual",
        description="virtual = the rig starts the virtual EVSE; network = an EVSE already reachable on the network.",
    )
    node_id: int = Field(default=0x1001, ge=1, le=_MAX_NODE_ID, description="Operational node id given to the DUT.")
    passcode: int = Field(default=20202021, ge=1, le=99999998, description="Setup passcode (8 digits).")
    discriminator: int = Field(default=3840, ge=0, le=4095, description="Long discriminator (12 bits).")
    setup_code: str | None = Field(
        default=None,
        description="Manual pairing code (11/21 digits) or 'MT:' QR payload; used instead of passcode+discriminator.",
    )
    endpoint: int = Field(default=1, ge=0, le=65534, description="Endpoint carrying the Energy EVSE cluster.")
    commissioning: Literal["on-network", "join", "already-commissioned"] = Field(
        default="on-network",
        description="How the rig gets a CASE session to the DUT: on-network = commission it with setup_code or "
        "passcode+discriminator; join = commission it with setup_code from a window another admin opened (a vendor "
        "app's 'share' code); already-commissioned = reconnect to a DUT the station's fabric holds.",
    )
    keep_fabric: bool = Field(
        default=False,
        description="Keep the rig's fabric on the DUT at the end of the session (then reach it again with "
        "already-commissioned); by default the fabric the rig added is removed.",
    )
    remove_last_fabric: bool = Field(
        default=False,
        description="Allow removing the rig's fabric when it is the DUT's last one (many devices factory-reset then).",
    )
    paa_trust_store: ConfigPath | None = Field(
        default=None,
        description="Folder of PAA certificates (DER or PEM), e.g. the DCL's production set; required for a "
        "network DUT unless attestation is allow-test-paa; none for the virtual EVSE (its test chain is exported).",
    )
    attestation: Literal["strict", "allow-test-paa"] | None = Field(
        default=None,
        description="strict = only the PAAs of paa_trust_store are trusted (default for a network DUT); "
        "allow-test-paa = the Matter test PAAs are trusted too: not a certification result (the virtual EVSE's "
        "default, as its chain is the matter.js test chain).",
    )
    pics: ConfigPath | None = Field(default=None, description="PICS file or folder of PICS XML files.")
    pixit: Pixit = Field(default_factory=Pixit)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    firmware: DutFirmware = Field(default_factory=DutFirmware)

    @field_validator("passcode")
    @classmethod
    def _check_passcode(cls, value: int) -> int:
        if value in _INVALID_PASSCODES:
            raise ValueError(
                f"{value:08d} is not allowed as a Matter passcode (00000000, 11111111 ... 99999999, "
                "12345678 and 87654321 are invalid)"
            )
        return value

    @field_validator("setup_code", mode="before")
    @classmethod
    def _setup_code_digits(cls, value: Any) -> Any:
        # YAML reads an unquoted manual pairing code as a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("setup_code")
    @classmethod
    def _check_setup_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if text.upper().startswith("MT:"):
            if not _QR_PAYLOAD.fullmatch(text):
                raise ValueError(f"{value!r} is not a QR payload ('MT:' followed by base-38 characters 0-9 A-Z . -)")
            return text
        digits = re.sub(r"[\s-]", "", text)
        if not digits.isdigit() or len(digits) not in (11, 21):
            raise ValueError(f"{value!r} is neither an 11/21-digit manual pairing code nor an 'MT:' QR payload")
        from rig.matter.onboarding import verhoeff_valid

        if not verhoeff_valid(digits):
            raise ValueError(f"{value!r}: the last digit is not the code's check digit (a typo in the code?)")
        return digits

    @model_validator(mode="after")
    def _join_needs_code(self) -> Dut:
        if self.commissioning == "join" and not self.setup_code:
            raise ValueError(
                "commissioning: join needs dut.setup_code: the manual pairing code or QR payload of the commissioning "
                "window another admin opened (e.g. a vendor app's 'share with another service' code)"
            )
        return self


class VirtualEvseOptional(_Section):
    """Optional attributes and commands of the virtual EVSE (all present by default)."""

    user_maximum_charge_current: bool = True
    randomization_delay_window: bool = True
    approximate_ev_efficiency: bool = True
    start_diagnostics: bool = True


class VirtualEvse(_Section):
    """How the rig starts the virtual EVSE (used when ``dut.kind`` is ``virtual``)."""

    features: list[Feature] = Field(default_factory=lambda: list(ALL_FEATURES), description="Supported features.")
    optional: VirtualEvseOptional = Field(default_factory=VirtualEvseOptional)
    defects: list[DefectName] = Field(
        default_factory=list, description="Deliberate defects to inject (names from virtual_evse/defects.json)."
    )
    keep_storage: bool = Field(
        default=False, description="Keep storage between runs, in the station folder (else factory-new every run)."
    )
    port: int = Field(default=5540, ge=1, le=65535, description="Matter UDP port.")
    vendor_id: int = Field(default=0xFFF1, ge=1, le=0xFFFE, description="Basic Information VendorID.")
    product_id: int = Field(default=0x8000, ge=1, le=0xFFFE, description="Basic Information ProductID.")
    serial_number: str = Field(default="VEVSE-0001", min_length=1, max_length=32)
    software_version: int = Field(default=1, ge=0, le=0xFFFF_FFFF)
    software_version_string: str = Field(default="1.0.0", min_length=1, max_length=64)
    hardware: dict[str, Annotated[float, Field(ge=-1e12, le=1e12)]] = Field(
        default_factory=dict, description="Passed through to the virtual EVSE (finite numbers, |x| <= 1e12)."
    )
    firmware: ConfigPath | None = Field(
        default=None,
        description="Folder of the firmware sources to run (main.js and the modules beside it), e.g. a mutant's copy "
        "made by benchmarks/mutation.py; null = virtual_evse/src. Its parent folder must hold package.json, "
        "defects.json and node_modules (a symlink will do), as virtual_evse/ does.",
    )
    backup_supply: bool = Field(
        default=False,
        description="false: like a charger without a backup supply, the EVSE loses power when its mains does (AC "
        "source output off, or below 85 V for longer than its 20 ms hold-up time): it drops off the network and boots "
        "again from its storage when mains returns. true: it stays online and reports the PowerLoss fault.",
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[Feature]) -> list[Feature]:
        dupes = sorted({f for f in value if value.count(f) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return value


class Report(_Section):
    """Where and how run reports are written."""

    dir: ConfigPath = Field(default=Path("reports"), validate_default=True, description="Output folder.")
    title: str = Field(default="EVSE conformance report", min_length=1)
    energy_tolerance_pct: float = Field(
        default=2.0, gt=0, le=100, description="Allowed deviation of DUT-reported energy from the bench meter, %."
    )
    database: str | None = Field(
        default=None,
        description="Results database: a PostgreSQL URL or a SQLite path (default <report.dir>/results.sqlite); "
        "--db and RIG_RESULTS_DB take precedence.",
    )

    def folder(self) -> Path:
        """``dir`` as an absolute path (a relative one is taken from the current folder)."""
        return self.dir if self.dir.is_absolute() else Path.cwd() / self.dir


class RigConfig(_Section):
    """The whole of rig.yaml. Built by :func:`load_config`; immutable."""

    station: Station
    dut: Dut
    virtual_evse: VirtualEvse = Field(default_factory=VirtualEvse)
    stimulus: Stimulus = Field(default="trigger", description="How the EV is simulated.")
    report: Report = Field(default_factory=Report)
    instruments: dict[str, InstrumentConfig] = Field(
        default_factory=dict,
        description="Instrument roles (free identifiers, e.g. ac_source, meter); opened in this order.",
    )
    ev_emulator: EvEmulatorConfig | None = Field(default=None, description="The IEC 61851-1 EV emulator, if any.")
    on_loss: Literal["stop", "continue"] = Field(
        default="stop",
        description="When an instrument or the DUT is lost during a case (the case fails naming it, the bench goes "
        "to its safe state): stop the run, or continue with the next case.",
    )
    farm: FarmConfig | None = Field(
        default=None,
        description="Take the bench from a labgrid farm: a place reserved and acquired for the run, its resources "
        "giving the DUT's and the instruments' addresses (docs/farm.md).",
    )
    config_path: SkipJsonSchema[Path | None] = Field(default=None, description="Set by the loader: the file read.")
    raw_digest: SkipJsonSchema[str] = Field(default="", description="Set by the loader: sha256 of the file bytes.")

    @field_validator("instruments", mode="before")
    @classmethod
    def _role_names(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            bad = [repr(k) for k in value if not (isinstance(k, str) and k.isidentifier())]
            if bad:
                raise ValueError(
                    f"role names must be identifiers (letters, digits, _; not starting with a digit), "
                    f"got {', '.join(bad)}"
                )
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> RigConfig:
        problems = check_bench(self.instruments, self.ev_emulator, self.stimulus)
        if self.dut.firmware.method == "command" and self.dut.kind != "network":
            problems.append(
                (
                    ("dut", "firmware", "method"),
                    "command: a flasher needs a DUT that outlives a session (dut.kind: network, e.g. `rig sim dut` "
                    "with `rig sim flash`); the virtual EVSE of a run is started for its session only",
                )
            )
        if self.farm is not None:
            problems += _check_farm(self)
        if problems:
            raise LocatedErrors(problems)
        return self


def _check_farm(config: RigConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references of ``farm:``: a farm's DUT is reached on its bench's network, its roles are declared."""
    farm = config.farm
    assert farm is not None
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if config.dut.kind != "network":
        problems.append(
            (("dut", "kind"), "a farm bench's DUT is on the bench's network: set dut.kind: network with farm:")
        )
    declared = ", ".join(config.instruments) or "none declared"
    for role in farm.roles.instruments:
        if role not in config.instruments:
            problems.append(
                (("farm", "roles", "instruments", role), f"no instrument role {role!r}; declared roles: {declared}")
            )
    for role in config.instruments:
        if role not in farm.roles.instruments:
            problems.append(
                (
                    ("farm", "roles", "instruments"),
                    f"instrument role {role!r} has no resource of the place: map it (role: resource name)",
                )
            )
    return problems
