"""One exception tree for the rig. Every message says what went wrong and what to do."""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig raises on purpose (shown to the user without a traceback)."""

    exit_code = 2


class ConfigError(RigError):
    """rig.yaml (or a CLI override) is invalid; the message names the YAML path and the allowed values."""


class SetupError(RigError):
    """The machine lacks something a run needs (root, `ip`, `node`, a package)."""


class DutError(RigError):
    """The DUT could not be started, reached or commissioned."""


class DutUnreachable(DutError):
    """The DUT did not answer within the bounded time."""


class CommissioningError(DutError):
    """Commissioning failed (wrong setup code, attestation, ...)."""


class WaitTimeout(RigError, AssertionError):
    """A wait ran out; the message names what was awaited. Counts as a test failure."""


class StepError(RigError, AssertionError):
    """Test steps were walked out of order or incompletely."""


class MatterStatusError(RigError, AssertionError):
    """An Interaction Model status other than the one expected.

    Attributes:
        status: the IM status name, e.g. ``CONSTRAINT_ERROR``.
        code: the numeric IM status.
        cluster_status: the cluster-specific status, if any.
    """

    def __init__(self, message: str, status: str, code: int, cluster_status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.cluster_status = cluster_status
