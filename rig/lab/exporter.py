"""``rig-exporter`` (``python -m rig.lab.exporter``): labgrid's exporter with the rig's exporter-side resource.

labgrid 26.0.1 has no plugin mechanism for exporters (its exporter.py keeps a module dict ``exports``), and publishes an
unknown class as a plain entry, so the rig's resources need no code here. The one that must *act* is
``RigBenchControl(fifo)``: when its place is acquired (labgrid calls ``_start``) and released (``_stop``) it writes
``acquire PLACE`` / ``release TOKEN`` as one line into the FIFO its bench reads (``rig sim export``: the bench resets
itself on each release), and it publishes ``resetting: true|false`` from the state file next to the FIFO until the
bench says its reset is done (the protocol: :mod:`rig.lab.control`). ``_start`` never waits (labgrid's coordinator
gives an exporter 10 s to answer an acquisition): a farm run waits for ``resetting: false`` itself. Everything else
is labgrid's ``labgrid-exporter``, arguments unchanged; it exits with 100 when the coordinator goes away, so run it
under a supervisor (``rig sim export`` does)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from rig.lab import control
from rig.lab.control import notify
from rig.lab.resources import CONTROL_CLASS

__all__ = ["main", "notify"]


def _control_export() -> type:
    import attr
    from labgrid.remote.exporter import ResourceExport

    @attr.s(eq=False)
    class _Local:
        avail: bool = attr.ib(default=True)

        def poll(self) -> None:
            pass

    @attr.s(eq=False)
    class RigBenchControlExport(ResourceExport):  # type: ignore[misc]
        """Tells its bench when the place is acquired and released."""

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self.local = _Local()

        def _get_params(self) -> dict[str, Any]:
            # called on every poll (0.25 s) and right after _stop: a release's "resetting" goes out with it
            return {**self.local_params, "resetting": control.published_resetting(str(self.local_params["fifo"]))}

        def _start(self, start_params: dict[str, Any]) -> None:
            with contextlib.suppress(OSError):  # a bench host that is away misses the news, the place is acquired
                notify(str(self.local_params["fifo"]), f"acquire {self.acquired}")

        def _stop(self, start_params: dict[str, Any]) -> None:
            with contextlib.suppress(OSError):
                control.release(str(self.local_params["fifo"]))

    return RigBenchControlExport


def main(argv: list[str] | None = None) -> int:
    """Run labgrid's exporter with :data:`CONTROL_CLASS` registered."""
    from labgrid.remote import exporter

    exporter.exports[CONTROL_CLASS] = _control_export()
    sys.argv = ["rig-exporter", *(sys.argv[1:] if argv is None else argv)]
    exporter.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
