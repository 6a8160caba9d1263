"""Serial numbers: 11 digits (year, sequence, Damm check digit); every single wrong digit and every swap of
two neighbouring digits is caught."""
from __future__ import annotations

import pytest

from callcenter.complaints import serial


def test_given_a_year_and_sequence_when_made_then_eleven_digits_shown_in_groups_of_four_four_three():
    made = serial.make(2026, 123)

    assert made.isdigit() and len(made) == 11 and made.startswith("2026000123")
    assert serial.display(made) == f"2026 0001 23{made[-1]}"
    assert serial.parts(made) == (2026, 123)


@pytest.mark.parametrize("sequence", [1, 9, 10, 123, 4711, 90909, 999999])
def test_given_a_serial_when_any_one_digit_is_wrong_then_it_is_refused(sequence):
    good = serial.make(2026, sequence)
    for position in range(len(good)):
        for digit in "0123456789":
            if digit != good[position]:
                typo = good[:position] + digit + good[position + 1:]
                assert not serial.is_valid(typo), typo


@pytest.mark.parametrize("sequence", [1, 90, 123, 4711, 90909, 999999])
def test_given_a_serial_when_two_neighbouring_digits_are_swapped_then_it_is_refused(sequence):
    good = serial.make(2026, sequence)
    for position in range(len(good) - 1):
        swapped = good[:position] + good[position + 1] + good[position] + good[position + 2:]
        if swapped != good:
            assert not serial.is_valid(swapped), swapped


def test_given_a_serial_as_people_write_it_when_normalized_then_separators_are_dropped():
    good = serial.make(2026, 42)

    assert serial.normalize(serial.display(good)) == good
    assert serial.normalize(f"{good[:4]}-{good[4:8]}.{good[8:]}") == good


@pytest.mark.parametrize("text, why", [("", "digits only"), ("2026 0001 23", "11 digits"),
                                       ("2026000123A", "digits only"), ("<b>20260001238</b>", "digits only")])
def test_given_not_a_serial_when_normalized_then_the_reason_is_said(text, why):
    with pytest.raises(serial.InvalidSerial, match=why):
        serial.normalize(text)


def test_given_a_text_quoting_serials_as_people_write_them_when_read_then_the_valid_ones_in_order():
    good, other = serial.make(2026, 123), serial.make(2027, 45)
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)

    text = (f"case {serial.display(good)}, not {wrong}; also {other[:4]}-{other[4:8]}-{other[8:]} "
            "and 123456789012")

    assert serial.quoted(text) == [good, other]
