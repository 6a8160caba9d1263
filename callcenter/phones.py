"""Caller-ID normalisation to E.164.

A caller ID is patient data: nothing here logs it, and `CallerNumber`'s repr hides it, so a stray
`log.info("%r", caller)` cannot leak it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

CallerStatus = Literal["valid", "anonymous", "malformed"]

# What switches and carriers put in the caller ID when the number is withheld or unknown.
ANONYMOUS_VALUES = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "asterisk"})
URI_SCHEMES = ("tel:", "sip:", "sips:")
MAX_RAW_LENGTH = 64
# Dial-string punctuation only: a caller ID with letters in it is garbage, not a vanity number to decode.
PLAUSIBLE = re.compile(r"\+?[0-9 ()./-]+")
ADDRESS = re.compile(r"<([^>]*)>")


@dataclass(frozen=True)
class CallerNumber:
    raw: str | None = field(repr=False)
    e164: str | None = field(repr=False)
    status: CallerStatus

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


def normalize(raw: str | None, default_region: str) -> CallerNumber:
    """Turn a caller ID as received ('(415) 555-0100', 'sip:+1415...@host', 'anonymous') into E.164.

    'valid' means phonenumbers finds the number possible (right length for its country), not that it is
    assigned: caller ID must not be lost because the metadata lags a new number range. A number that needs
    an area code to be complete ('555-0100') is 'malformed': it has no single E.164 form.
    """
    user = _user_part(raw)
    if user is None or user.lower() in ANONYMOUS_VALUES:
        return CallerNumber(raw, None, "anonymous")
    e164 = _to_e164(user, default_region)
    return CallerNumber(raw, e164, "valid" if e164 else "malformed")


def _user_part(raw: str | None) -> str | None:
    """The number inside a tel:/sip: URI ('sip:+14155550100@host;user=phone'), or the raw value stripped."""
    if raw is None:
        return None
    value = raw.strip()
    bracketed = ADDRESS.search(value)  # '"Name" <sip:...>'
    if bracketed:
        value = bracketed.group(1).strip()
    lowered = value.lower()
    for scheme in URI_SCHEMES:
        if lowered.startswith(scheme):
            value = value[len(scheme):]
            break
    value = value.split("@", 1)[0]
    return value.split(";", 1)[0].strip()


def _to_e164(value: str, default_region: str) -> str | None:
    if len(value) > MAX_RAW_LENGTH or not PLAUSIBLE.fullmatch(value):
        return None
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
