"""Keysight AC6800A/B basic AC sources (AC6801-AC6804), SCPI over LAN, USB or GPIB.

Manual: Keysight AC6800B Series Operating and Service Guide, chapter 3 "SCPI Programming Reference" (syntax p.93-99,
CURRent p.121, FETCh and MEASure p.125-129, FREQuency p.130, OUTPut p.141, SYSTem p.151, VOLTage p.159). Every
command sent, with its page, is in docs/bench-protocols.md section 1.3; nothing else is sent.

The guide's SCPI reference has no LIST subsystem: this driver has no list program (``run_program`` raises
:class:`rig.errors.Unsupported`). A step transient (``VOLT:TRIG`` with a bus trigger) is not used either: its command
spelling was not verified, and a step alone does not come back after a timed dropout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rig.instruments.ac_source_common import AcSourceDriver
from rig.instruments.capabilities import ProgramStep


class KeysightAc6800(AcSourceDriver):
    """Keysight AC6800A/B AC source (AC6801-AC6804): output, setpoints, V/A/Hz measurements; no list program.

    Power measurement is not in this driver (its query was not verified): it raises :class:`rig.errors.Unsupported`,
    as ``run_program`` does.

    Args:
        role: the bench role.
        transport: a MessageTransport.
        max_voltage: highest voltage setpoint accepted, V rms (the model's range, at most 300).
        max_current: highest current limit accepted, A (the model's rating; None: the source refuses more itself).
        poll_s: unused (nothing is polled); accepted for a uniform rig.yaml.
    """

    DRIVER: ClassVar[str] = "keysight_ac6800"
    FAMILY: ClassVar[str] = "AC6800"
    VENDORS: ClassVar[tuple[str, ...]] = ("KEYSIGHT TECHNOLOGIES", "AGILENT TECHNOLOGIES")
    MODELS: ClassVar[tuple[tuple[str, str], ...]] = ((r"AC680[1-4][AB]", "AC6801A/B-AC6804A/B"),)
    CURRENT_LIMIT_SET: ClassVar[str | None] = "CURR"
    MEASURE: ClassVar[dict[str, str | None]] = {
        "voltage": "MEAS:VOLT:AC?",
        "current": "MEAS:CURR:AC?",
        "power": None,
        "frequency": "MEAS:FREQ?",
    }
    MANUAL: ClassVar[str] = "guide"

    # -- properties ----------------------------------------------------------------------------------------------
    @property
    def voltage_setpoint(self) -> float:
        """Get the voltage setpoint (``VOLT?``), V rms, 0..max_voltage."""
        return self.query_float("VOLT?")

    # -- list program --------------------------------------------------------------------------------------------
    def run_program(self, steps: Sequence[ProgramStep]) -> None:
        """Not available: the AC6800 has no list program; raises Unsupported naming role and model."""
        raise self._unsupported(
            "no list program (its SCPI reference has no LIST subsystem), so no timed dropout or sag; "
            "use an AC source with one (a Chroma 61500/61600 or an AMETEK Sequoia)"
        )
