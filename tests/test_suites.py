"""Static checks of the suites that need no DUT: step tables agree with the code that walks them."""

from __future__ import annotations

from suites.tc_eevse import test_tc_eevse_2_1 as tc21


def test_every_step_of_tc_eevse_2_1_has_its_check() -> None:
    assert [s.number for s in tc21.STEPS[1:]] == list(tc21.CHECKS)


def test_tc_eevse_2_1_optional_steps_declare_their_attribute_pics() -> None:
    # every step but State (mandatory, no PICS item in the plan) is gated on its attribute's PICS code
    assert [s.number for s in tc21.STEPS[1:] if not s.pics] == ["2"]
    assert {s.pics for s in tc21.STEPS if s.number in ("11", "11a")} == {"EEVSE.S.A0009"}
