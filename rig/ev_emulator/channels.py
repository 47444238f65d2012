"""The EV emulator's channels: the EV-side switches of the IEC 61851-1 pilot and PP circuits and its fault paths.

The one definition of their names (docs/bench-protocols.md section 3). rig.yaml's ``ev_emulator.wiring`` maps them to
relay numbers (:mod:`rig.config.bench`), :class:`rig.ev_emulator.EvEmulator` switches them and the virtual bench's
plant (:mod:`rig.sim.plant`) models the circuit behind them. It imports nothing, so any layer may read it.
"""

from __future__ import annotations

CP_CONNECT = "cp_connect"
"""CP line connected to the EV-side network (diode D1 + R2 2.74 kOhm): open = state A."""
S2_C = "s2_c"
"""S2 with R3 = 1.3 kOhm in parallel with R2: state C (ready to charge)."""
S2_D = "s2_d"
"""S2 with R3 = 270 Ohm in parallel with R2: state D (ventilation required)."""
CP_PE_SHORT = "cp_pe_short"
"""CP shorted to PE: state E."""
DIODE_BYPASS = "diode_bypass"
"""EV diode D1 shorted (diode fault)."""
PE_BREAK = "pe_break"
"""Protective earth to the EV interrupted."""
RCD_AC_30MA = "rcd_ac_30ma"
"""30 mA AC residual current injected through the EVSE's RCD sensor."""
RCD_DC_6MA = "rcd_dc_6ma"
"""6 mA smooth DC residual current injected through the EVSE's RCD sensor."""

CP_CHANNELS: tuple[str, ...] = (CP_CONNECT, S2_C, S2_D, CP_PE_SHORT)
"""The channels that set the CP state (A..E)."""

STATE_CHANNELS: dict[str, frozenset[str]] = {
    "A": frozenset(),
    "B": frozenset({CP_CONNECT}),
    "C": frozenset({CP_CONNECT, S2_C}),
    "D": frozenset({CP_CONNECT, S2_D}),
    "E": frozenset({CP_CONNECT, CP_PE_SHORT}),
}
"""Closed CP channels per state the EV can apply (every other CP channel open)."""

PP_OHM: dict[str, float] = {"pp_100": 100.0, "pp_220": 220.0, "pp_680": 680.0, "pp_1500": 1500.0}
"""PP coding channel -> the resistor it switches between PP and PE, Ohm."""

CABLE_CHANNELS: dict[int, str] = {13: "pp_1500", 20: "pp_680", 32: "pp_220", 63: "pp_100"}
"""Cable rating, A -> PP coding channel (IEC 61851-1: 1.5 kOhm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A)."""

CABLE_RATINGS_A: tuple[int, ...] = tuple(sorted(CABLE_CHANNELS))
"""The standard cable ratings, A, ascending."""

EV_CHANNELS: tuple[str, ...] = (
    CP_CONNECT,
    S2_C,
    S2_D,
    DIODE_BYPASS,
    CP_PE_SHORT,
    PE_BREAK,
    RCD_AC_30MA,
    RCD_DC_6MA,
    *PP_OHM,
)
"""Every EV emulator channel, in the order rig.yaml and docs/bench-protocols.md section 3 list them."""

REQUIRED_CHANNELS: tuple[str, ...] = (CP_CONNECT, S2_C)
"""Channels without which the emulator cannot even plug in and ask for charge (A, B, C)."""
