"""``rig-exporter`` (``python -m rig.lab.exporter``): labgrid's exporter with the rig's exporter-side resource.

labgrid 26.0.1 has no plugin mechanism for exporters (its exporter.py keeps a module dict ``exports``), and publishes an
unknown class as a plain entry, so the rig's resources need no code here. The one that must *act* is
``RigBenchControl(fifo)``: when its place is acquired (labgrid calls ``_start``) and released (``_stop``) it writes
``acquire PLACE`` / ``release`` as one line into the FIFO its bench reads (``rig sim export``: the bench resets its
instruments to their safe state on each). Everything else is labgrid's ``labgrid-exporter``, arguments unchanged; it
exits with 100 when the coordinator goes away, so run it under a supervisor (``rig sim export`` does)."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any

from rig.lab.resources import CONTROL_CLASS


def notify(fifo: str, line: str) -> bool:
    """Write ``line`` to the FIFO at ``fifo`` without blocking; False when no one reads it."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            return False
        raise
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
    finally:
        os.close(fd)
    return True


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
            return {**self.local_params}

        def _start(self, start_params: dict[str, Any]) -> None:
            notify(str(self.local_params["fifo"]), f"acquire {self.acquired}")

        def _stop(self, start_params: dict[str, Any]) -> None:
            with contextlib.suppress(OSError):
                notify(str(self.local_params["fifo"]), "release")

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
