import logging

import pytest

from callcenter.phones import CallerNumber, normalize

VALID = [
    # raw, default region, E.164
    ("+14155550100", "US", "+14155550100"),
    ("4155550100", "US", "+14155550100"),
    ("14155550100", "US", "+14155550100"),
    ("1 415 555 0100", "US", "+14155550100"),
    ("(415) 555-0100", "US", "+14155550100"),
    ("415.555.0100", "US", "+14155550100"),
    ("415-555-0100", "US", "+14155550100"),
    ("+1 (415) 555-0100", "US", "+14155550100"),
    ("  415 555 0100  ", "US", "+14155550100"),
    ("+44 20 7946 0018", "US", "+442079460018"),
    ("011 44 20 7946 0018", "US", "+442079460018"),
    ("0044 20 7946 0018", "GB", "+442079460018"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("+34 612 345 678", "US", "+34612345678"),
    ("612 34 56 78", "ES", "+34612345678"),
    ("tel:+1-415-555-0100", "US", "+14155550100"),
    ("TEL:+14155550100", "US", "+14155550100"),
    ("sip:+14155550100@pbx.example.org", "US", "+14155550100"),
    ("sip:4155550100@10.0.0.1:5060;user=phone", "US", "+14155550100"),
    ("sips:+14155550100@pbx.example.org", "US", "+14155550100"),
    ('"Front desk" <sip:+14155550100@pbx.example.org>', "US", "+14155550100"),
    ("+1 415 555 0199", "ES", "+14155550199"),
]

ANONYMOUS = [None, "", "   ", "anonymous", "Anonymous", "ANONYMOUS", "unknown", "Restricted", "private",
             "unavailable", "asterisk", "anonymous@anonymous.invalid", "sip:anonymous@anonymous.invalid",
             "<sip:Anonymous@example.org>"]

MALFORMED = ["12", "abc", "1" * 30, "+", "-", "555-0100", "0044 20 7946 0018", "1-800-FLOWERS",
             "+999 1234 5678", "4155550100x12", "sip:bob@example.org", "4" * 200]


@pytest.mark.parametrize(("raw", "region", "e164"), VALID)
def test_given_possible_number_in_any_format_when_normalized_then_valid_e164(raw, region, e164):
    assert normalize(raw, region) == CallerNumber(raw, e164, "valid")


@pytest.mark.parametrize("raw", ANONYMOUS)
def test_given_withheld_caller_id_when_normalized_then_anonymous_without_number(raw):
    assert normalize(raw, "US") == CallerNumber(raw, None, "anonymous")


@pytest.mark.parametrize("raw", MALFORMED)
def test_given_impossible_number_when_normalized_then_malformed_keeping_raw(raw):
    assert normalize(raw, "US") == CallerNumber(raw, None, "malformed")


def test_given_caller_number_when_repr_then_number_is_not_shown():
    caller = normalize("(415) 555-0100", "US")

    assert "555" not in repr(caller)
    assert "valid" in repr(caller)


def test_given_caller_number_when_normalized_then_nothing_is_logged(caplog):
    with caplog.at_level(logging.DEBUG):
        for raw in ("(415) 555-0100", "12", "anonymous"):
            normalize(raw, "US")

    assert caplog.records == []


def test_given_caller_number_when_changed_then_refused():
    caller = normalize("4155550100", "US")

    with pytest.raises(AttributeError):
        caller.e164 = "+10000000000"  # type: ignore[misc]
