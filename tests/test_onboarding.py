"""Manual pairing codes: the SDK's well-known default and the Verhoeff check digit."""

from rig.matter.onboarding import manual_pairing_code, verhoeff_check_digit, verhoeff_valid


def test_default_test_device_code() -> None:
    # The Matter SDK's example devices (passcode 20202021, discriminator 3840) print 34970112332.
    assert manual_pairing_code(20202021, 3840) == "34970112332"


def test_check_digit_detects_a_typo() -> None:
    code = manual_pairing_code(20202022, 1234)
    assert verhoeff_valid(code)
    typo = code[:3] + str((int(code[3]) + 1) % 10) + code[4:]
    assert not verhoeff_valid(typo)
    assert verhoeff_check_digit("236") == "3"  # textbook Verhoeff example
