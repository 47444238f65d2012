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


class DutLost(DutError):
    """The DUT stopped answering during a case: an interaction failed or timed out and a fresh CASE session could not
    be established either (the message names the node, what failed and the probe's result)."""


class CommissioningError(DutError):
    """Commissioning failed (wrong setup code, attestation, ...)."""


class WaitTimeout(RigError, AssertionError):
    """A wait ran out; the message names what was awaited. Counts as a test failure."""


class EventsLost(RigError, AssertionError):
    """Events the DUT numbered are no longer to be had (after a reboot or a lost subscription); names the numbers.
    Counts as a test failure."""


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


class InstrumentError(RigError):
    """An instrument did not answer or answered wrongly; names the role, the address and the last command.

    Attributes:
        role: the bench role (e.g. ``ac_source``).
        address: the transport address (VISA resource, host:port/unit, CAN channel).
        last_command: the last command sent, if any.
    """

    def __init__(self, role: str, address: str, message: str, last_command: str | None = None) -> None:
        text = f"instrument {role!r} at {address}: {message}"
        if last_command:
            text += f" (last command: {last_command})"
        super().__init__(text)
        self.role = role
        self.address = address
        self.last_command = last_command


class InstrumentFault(InstrumentError):
    """The instrument answered, but not as needed (an error it queued, a measurement it could not make, a trigger
    that did not come): it is there, so this fails the case on its own account and is no loss of the instrument."""


class Unsupported(InstrumentError):
    """The instrument model cannot do what was asked (e.g. an AC source without a list program); a case that needs
    it is skipped with this message rather than failed."""


class LostMidCase(RigError, AssertionError):
    """An instrument or the DUT was lost during a case: the case fails naming it (the bench was driven to its safe
    state first)."""


class SessionError(RigError):
    """A stage of the run's set-up failed (sandbox, bench, DUT, controller, commissioning); nothing ran.

    Attributes:
        stage: the stage that failed.
    """

    exit_code = 3

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
