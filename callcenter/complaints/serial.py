"""Ticket serial numbers: digits only, easy to say and to type on a phone keypad.

`YYYY SSSSSS C`: the year the ticket was received, its sequence number in that year (six digits, from
000001, no gaps: complaints/services.py takes the next one from the `complaint_serials` counter in the
ticket's own transaction) and a Damm check digit over the ten digits before it. Written in groups of 4-4-3
(`2026 0001 237` is 2026, sequence 123, check digit 7); stored and typed as the 11 digits alone.

Damm (H. Michael Damm, 2004; python-stdnum's `stdnum.damm`) is chosen over Luhn because it catches every
single wrong digit AND every swap of two adjacent digits (Luhn misses 09 <-> 90), the two mistakes people
make when they read out or type a number.
"""
from __future__ import annotations

import re

from stdnum import damm
from stdnum.exceptions import ValidationError

SEQUENCE_DIGITS = 6
LENGTH = 4 + SEQUENCE_DIGITS + 1
MAX_SEQUENCE = 10 ** SEQUENCE_DIGITS - 1
_SEPARATORS = re.compile(r"[\s.\-/]")
# A serial quoted in a text, as people write it: "2026 0001 237", "2026-0001-237", "20260001237".
IN_TEXT = re.compile(r"(?<!\d)(\d{4})[ .\-]?(\d{4})[ .\-]?(\d{3})(?!\d)")


class InvalidSerial(ValueError):
    """Not a serial number: the message says why (length, a non-digit, the check digit)."""


def make(year: int, sequence: int) -> str:
    """The 11 digits of the ticket `sequence` of `year`."""
    if not 1000 <= year <= 9999 or not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError("year or sequence out of range")
    body = f"{year:04d}{sequence:0{SEQUENCE_DIGITS}d}"
    return body + damm.calc_check_digit(body)


def normalize(text: str) -> str:
    """The 11 digits of a serial as a person wrote or typed it (spaces, dots, dashes allowed), checked.

    Raises InvalidSerial for a wrong length, a non-digit or a check digit that does not match (one wrong
    digit or two neighbours swapped)."""
    digits = _SEPARATORS.sub("", text or "")
    if not digits.isdigit():
        raise InvalidSerial("a serial number has digits only")
    if len(digits) != LENGTH:
        raise InvalidSerial(f"a serial number has {LENGTH} digits")
    try:
        damm.validate(digits)
    except ValidationError:
        raise InvalidSerial("the check digit does not match: a digit is wrong or two are swapped") from None
    return digits


def is_valid(text: str) -> bool:
    try:
        normalize(text)
    except InvalidSerial:
        return False
    return True


def quoted(text: str) -> list[str]:
    """The serials a text quotes (an email's subject, a text message), in order; a number whose check digit
    does not match is none."""
    found = []
    for match in IN_TEXT.finditer(text or ""):
        try:
            found.append(normalize("".join(match.groups())))
        except InvalidSerial:
            continue
    return found


def display(serial: str) -> str:
    """`2026 0001 237`: in groups, as it is printed, shown and read out."""
    return f"{serial[:4]} {serial[4:8]} {serial[8:]}" if len(serial) == LENGTH else serial


def parts(serial: str) -> tuple[int, int]:
    """(year, sequence) of a valid serial."""
    digits = normalize(serial)
    return int(digits[:4]), int(digits[4:4 + SEQUENCE_DIGITS])
