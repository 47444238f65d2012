"""IEC 61851-1 EV emulator: CP/PP states, fault injection and pilot measurement, on bench instrument roles.

``pilot`` holds the pure arithmetic (classification, duty <-> current), ``model`` the EV's demand, ``channels`` the
channel names, ``emulator`` the :class:`EvEmulator` driving a relay network or a board. Reaction times are taken from
oscilloscope captures (:mod:`rig.bench.timing`).
"""

from rig.ev_emulator.channels import CABLE_CHANNELS, EV_CHANNELS
from rig.ev_emulator.emulator import STATE_RELAYS, EvEmulator, PilotStatus
from rig.ev_emulator.model import EvModel
from rig.ev_emulator.pilot import (
    PilotClass,
    classify,
    current_to_duty,
    duty_band,
    duty_for_offer,
    duty_to_current,
)

__all__ = [
    "CABLE_CHANNELS",
    "EV_CHANNELS",
    "STATE_RELAYS",
    "EvEmulator",
    "EvModel",
    "PilotClass",
    "PilotStatus",
    "classify",
    "current_to_duty",
    "duty_band",
    "duty_for_offer",
    "duty_to_current",
]
