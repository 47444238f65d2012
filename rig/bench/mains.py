"""The nominal mains the bench powers the EVSE from: one definition for the rig, the virtual bench and the suites.

230 V 50 Hz single-phase (IEC 60038, the European low-voltage supply); the AC source is set to it when the DUT is
powered and whenever a stimulus needs "the EVSE installed and powered". This module imports nothing.
"""

from __future__ import annotations

NOMINAL_MAINS_V = 230.0
"""Nominal mains voltage, V rms (line to neutral)."""

NOMINAL_MAINS_HZ = 50.0
"""Nominal mains frequency, Hz."""

MAINS_TOLERANCE_V = 2.0
"""How far a measured AC source voltage may be from :data:`NOMINAL_MAINS_V` and still count as nominal, V."""
