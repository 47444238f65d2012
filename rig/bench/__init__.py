"""The bench: instrument roles opened in order, closed in reverse, safe state on every exit path.

:mod:`rig.bench.mains` (the nominal mains) imports nothing heavy, so the virtual bench's process can read it
without loading the bench and rig.yaml's model; :class:`Bench` is loaded when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rig.bench.bench import Bench, InstrumentFactory, registry_factory

__all__ = ["Bench", "InstrumentFactory", "registry_factory"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rig.bench import bench

        return getattr(bench, name)
    raise AttributeError(f"module 'rig.bench' has no attribute {name!r}")
