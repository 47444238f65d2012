"""The bench: instrument roles opened in order, closed in reverse, safe state on every exit path."""

from __future__ import annotations

from rig.bench.bench import Bench, InstrumentFactory, registry_factory

__all__ = ["Bench", "InstrumentFactory", "registry_factory"]
