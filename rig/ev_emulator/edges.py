"""Timestamped pilot/contactor edges: bounded waits and reaction times on the capture instrument's clock."""

from __future__ import annotations

import time

from rig.errors import WaitTimeout
from rig.instruments.capabilities import Edge, PilotCapture

SIGNALS = ("PWM_ON", "PWM_OFF", "CONTACTOR_CLOSED", "CONTACTOR_OPEN", "CP_STATE")
"""Edge signal names (docs/bench-protocols.md section 3)."""

DEFAULT_POLL_S = 0.01


def _check_signal(signal: str) -> str:
    if signal not in SIGNALS:
        raise ValueError(f"unknown edge signal {signal!r}; signals: {', '.join(SIGNALS)}")
    return signal


def wait_edge(
    capture: PilotCapture,
    signal: str,
    after_t: float,
    timeout_s: float,
    *,
    level: int | None = None,
    poll_s: float = DEFAULT_POLL_S,
    what: str = "",
) -> Edge:
    """Wait for the first ``signal`` edge later than ``after_t`` (instrument clock, s).

    Args:
        capture: the instrument logging edges.
        signal: PWM_ON, PWM_OFF, CONTACTOR_CLOSED, CONTACTOR_OPEN or CP_STATE.
        after_t: only edges with ``t_s > after_t`` count (e.g. the time the cause was applied).
        timeout_s: how long to wait on the local clock, s.
        level: if given, only an edge with this new level/state counts.
        poll_s: polling period, s.
        what: extra words for the timeout message (e.g. "EVSE reaction to state C").

    Raises:
        WaitTimeout: no such edge within ``timeout_s``; the message names the signal.
    """
    _check_signal(signal)
    deadline = time.monotonic() + timeout_s
    while True:
        for edge in capture.edges():
            if edge.signal == signal and edge.t_s > after_t and (level is None or edge.level == level):
                return edge
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            wanted = f"{signal} edge" + (f" to level {level}" if level is not None else "")
            context = f" ({what})" if what else ""
            raise WaitTimeout(
                f"no {wanted} after t={after_t:.3f} s within {timeout_s:g} s{context}; "
                "check the EVSE reacts and the capture input is wired"
            )
        time.sleep(min(poll_s, remaining))


def reaction_time(
    capture: PilotCapture, cause_t: float, signal: str, timeout_s: float, *, level: int | None = None
) -> float:
    """Return the time from ``cause_t`` to the first ``signal`` edge after it, s (instrument clock).

    Raises:
        WaitTimeout: no such edge within ``timeout_s``.
    """
    edge = wait_edge(capture, signal, cause_t, timeout_s, level=level, what=f"reaction to the cause at {cause_t:.3f} s")
    return edge.t_s - cause_t
