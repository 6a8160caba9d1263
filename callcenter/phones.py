"""Caller-ID normalisation to E.164: the one place a phone number as someone typed or a trunk delivered it
becomes the form patient records are matched by (calls, desk search, do-not-call list, click-to-dial, demo).

Trunks deliver numbers in the conventions of the country they are in, the configured `default_region`:
national form with its trunk prefix (`0...`, `1...` in North America), international form with that
region's international (IDD) prefix (`011` in North America, `00` in most of Europe, `0011` in Australia,
`010` in Japan, carrier-selection prefixes in Brazil or Korea), or `+`; often inside a SIP or tel URI.
phonenumbers knows every region's prefixes from its metadata; this module unwraps the URI and decides what
counts as withheld.

A caller ID is patient data: nothing here logs it, and `CallerNumber`'s repr hides it, so a stray
`log.info("%r", caller)` cannot leak it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote

import phonenumbers

CallerStatus = Literal["valid", "anonymous", "malformed"]

# What switches and carriers put in the caller ID when the number is withheld or unknown; "p" (private) and
# "o" (out of area) are what analogue caller-ID (and the FXO gateways that read it) delivers instead.
ANONYMOUS_VALUES = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "asterisk",
                              "withheld", "blocked", "p", "o"})
URI_SCHEMES = ("tel:", "sip:", "sips:")
MAX_RAW_LENGTH = 64
# Dial-string punctuation only: a caller ID with letters in it is garbage, not a vanity number to decode.
PLAUSIBLE = re.compile(r"\+?[0-9 ()./-]+")
ADDRESS = re.compile(r"<([^>]*)>")
# ITU-T's recommended international prefix. Gateways and trunks abroad use it whatever the region's own
# prefix is; a number read that way is only taken when the region's own reading is not a valid number.
ITU_PREFIX = "00"


@dataclass(frozen=True)
class CallerNumber:
    raw: str | None = field(repr=False)
    e164: str | None = field(repr=False)
    status: CallerStatus

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


def region_code(region: str) -> str:
    """The region as phonenumbers names it ('us' -> 'US'); ValueError for a code it does not know ('UK')."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{region!r} is not a region code phonenumbers knows "
                         "(ISO 3166-1 alpha-2: US, GB, ES...)")
    return code


def normalize(raw: str | None, default_region: str) -> CallerNumber:
    """Turn a caller ID as received ('(415) 555-0100', 'sip:+1415...@host', 'anonymous') into E.164.

    'valid' means phonenumbers finds the number possible (right length for its country), not that it is
    assigned: caller ID must not be lost because the metadata lags a new number range. A number that needs
    an area code to be complete ('555-0100') is 'malformed': it has no single E.164 form.
    """
    user = _user_part(raw)
    if user is None or user.lower() in ANONYMOUS_VALUES:
        return CallerNumber(raw, None, "anonymous")
    e164 = _to_e164(user, region_code(default_region))
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
    return unquote(value.split(";", 1)[0]).strip()  # SIP may escape the '+': sip:%2B1415...@host


# Pure (strings in, a string out) and a good part of an HL7 message's or an incoming call's CPU (about 30 us
# through phonenumbers): a hospital feed resends a patient's same numbers in every message.
@lru_cache(maxsize=4096)
def _to_e164(value: str, region: str) -> str | None:
    if len(value) > MAX_RAW_LENGTH or not PLAUSIBLE.fullmatch(value):
        return None
    number = _possible(value, region)
    digits = re.sub(r"\D", "", value)
    # Validity (a costly metadata match) is asked only where it can change the answer: a number dialed with
    # the ITU prefix. '0061 2 9876 5432' on an Australian trunk (its own prefix is 0011): the national reading
    # is possible but no real number; the international one is.
    if number is not None and digits.startswith(ITU_PREFIX) and not phonenumbers.is_valid_number(number):
        international = _possible("+" + digits[len(ITU_PREFIX):], region)
        if international is not None and phonenumbers.is_valid_number(international):
            number = international
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _possible(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return number
