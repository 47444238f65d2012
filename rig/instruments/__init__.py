"""Instruments: capabilities (what tests may ask), drivers (one family per file) and transports (the wire)."""
