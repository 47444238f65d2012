"""What every refused input must give: the documented exit code, one message line naming the file, location or
value, no traceback, and nothing written."""

from __future__ import annotations

from tests.robustness.cli import Outcome


def assert_refused(outcome: Outcome, *fragments: str, code: int = 2) -> str:
    """Check a refusal and return its message line.

    Args:
        outcome: what the command gave.
        fragments: texts the message must contain (the file, the YAML path or line, the value).
        code: the exit code documented for this kind of input.
    """
    assert not outcome.escaped, f"an exception escaped rig.cli.main:\n{outcome.err}"
    assert "Traceback" not in outcome.err and "Traceback" not in outcome.out, outcome.err
    assert outcome.code == code, f"exit {outcome.code}, expected {code}; stderr:\n{outcome.err}"
    # argparse puts its usage lines before its one error line
    lines = [line for line in outcome.error_lines if not line.startswith(("usage:", " "))]
    assert len(lines) == 1 and "error:" in lines[0], f"expected one error line, got:\n{outcome.err}"
    message = lines[0]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message
