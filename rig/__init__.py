"""rig: hardware-in-the-loop conformance test rig for Matter EV chargers (Energy EVSE, cluster 0x0099)."""

from pathlib import Path

__version__ = "0.1.0"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout the rig runs from (suites, virtual_evse/, spec/ live here)."""
