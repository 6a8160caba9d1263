import logging

import pytest

from callcenter.phones import CallerNumber, normalize, region_code

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

# What trunks deliver in the region they are in (the configured default_region).
TRUNK = [
    # North America: international prefix 011, national prefix 1
    ("011442079460018", "US", "+442079460018"),
    ("01144 20 7946 0018", "US", "+442079460018"),
    ("011 52 55 1234 5678", "US", "+525512345678"),
    ("011-34-612-345-678", "US", "+34612345678"),
    ("1 (415) 555-0101", "US", "+14155550101"),
    ("sip:011442079460018@trunk.example.org;user=phone", "US", "+442079460018"),
    ("sip:+14155550101@trunk.example.org;user=phone", "US", "+14155550101"),
    ("<sip:+14155550101@trunk.example.org;user=phone>", "US", "+14155550101"),
    ('"Emily Johnson" <sip:4155550101@10.0.0.5:5060>;tag=as1234', "US", "+14155550101"),
    ("sip:%2B14155550101@trunk.example.org", "US", "+14155550101"),
    ("tel:+1-415-555-0101", "US", "+14155550101"),
    ("tel:011-44-20-7946-0018", "US", "+442079460018"),
    ("01114155550101", "us", "+14155550101"),
    ("011 44 20 7946 0018", "CA", "+442079460018"),
    ("613-555-0123", "CA", "+16135550123"),
    ("1 613 555 0123", "CA", "+16135550123"),
    # Most of Europe: international prefix 00, national (trunk) prefix 0
    ("020 7946 0018", "GB", "+442079460018"),
    ("07700 900123", "GB", "+447700900123"),
    ("00 1 415 555 0101", "GB", "+14155550101"),
    ("00442079460018", "GB", "+442079460018"),
    ("+44 (0)20 7946 0018", "GB", "+442079460018"),
    ("sip:07700900123@gateway.example.org;user=phone", "GB", "+447700900123"),
    ("030 123456", "DE", "+4930123456"),
    ("0049 30 123456", "DE", "+4930123456"),
    ("00 1 415 555 0101", "DE", "+14155550101"),
    ("+49 (0)30 123456", "DE", "+4930123456"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("00 33 6 12 34 56 78", "FR", "+33612345678"),
    ("0044 20 7946 0018", "FR", "+442079460018"),
    ("612 34 56 78", "ES", "+34612345678"),  # no national prefix in Spain
    ("0034 612 34 56 78", "ES", "+34612345678"),
    ("00 1 415 555 0101", "ES", "+14155550101"),
    ("tel:+34-612-345-678", "ES", "+34612345678"),
    ('"Ana" <sip:0034612345678@pbx.example.org>', "ES", "+34612345678"),
    # Australia: 0011, national prefix 0; a gateway's 00 is taken when the national reading is no number
    ("02 9876 5432", "AU", "+61298765432"),
    ("0412 345 678", "AU", "+61412345678"),
    ("0011 61 2 9876 5432", "AU", "+61298765432"),
    ("0011 1 415 555 0101", "AU", "+14155550101"),
    ("0061 2 9876 5432", "AU", "+61298765432"),
    # Japan: 010; Mexico: 00; Brazil: 00 followed by the carrier's code
    ("010 1 415 555 0101", "JP", "+14155550101"),
    ("010 81 3 1234 5678", "JP", "+81312345678"),
    ("03-1234-5678", "JP", "+81312345678"),
    ("00 1 415 555 0101", "MX", "+14155550101"),
    ("55 1234 5678", "MX", "+525512345678"),
    ("0021 1 415 555 0101", "BR", "+14155550101"),
]

ANONYMOUS = [None, "", "   ", "anonymous", "Anonymous", "ANONYMOUS", "unknown", "Restricted", "private",
             "unavailable", "asterisk", "anonymous@anonymous.invalid", "sip:anonymous@anonymous.invalid",
             "<sip:Anonymous@example.org>", "Withheld", "BLOCKED", "P", "O",
             '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1928301774']

MALFORMED = ["12", "abc", "1" * 30, "+", "-", "555-0100", "0044 20 7946 0018", "1-800-FLOWERS",
             "+999 1234 5678", "4155550100x12", "sip:bob@example.org", "4" * 200]


@pytest.mark.parametrize(("raw", "region", "e164"), VALID)
def test_given_possible_number_in_any_format_when_normalized_then_valid_e164(raw, region, e164):
    assert normalize(raw, region) == CallerNumber(raw, e164, "valid")


@pytest.mark.parametrize(("raw", "region", "e164"), TRUNK)
def test_given_caller_id_as_a_trunk_in_the_region_delivers_it_when_normalized_then_valid_e164(
        raw, region, e164):
    assert normalize(raw, region) == CallerNumber(raw, e164, "valid")


@pytest.mark.parametrize(("raw", "region"), [("0081 3 1234 5678", "US"), ("1 415 555 0101", "GB"),
                                             ("442079460018", "US"), ("+0", "AU")])
def test_given_number_no_trunk_of_the_region_delivers_when_normalized_then_malformed(raw, region):
    assert normalize(raw, region) == CallerNumber(raw, None, "malformed")


@pytest.mark.parametrize("region", ["UK", "", "USA", "XX"])
def test_given_region_phonenumbers_does_not_know_when_used_then_refused(region):
    with pytest.raises(ValueError, match="region code"):
        region_code(region)


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
