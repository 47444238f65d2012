"""rig: hardware-in-the-loop conformance test rig for Matter EV chargers (Energy EVSE, cluster 0x0099)."""

__version__ = "0.1.0"
