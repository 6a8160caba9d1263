"""What a patient's text is taken for (keywords.py): keywords whatever their case, accents and punctuation,
single letters only on their own, free text otherwise."""
from __future__ import annotations

import pytest

from callcenter.sms.keywords import parse, ticket_kind


@pytest.mark.parametrize("text, keyword", [
    ("C", "confirm"), ("c.", "confirm"), (" confirm ", "confirm"), ("Confirmó", "confirm"),
    ("X", "cancel"), ("x!", "cancel"),
    ("STOP", "stop"), ("Stop texting me", "stop"), ("stop.", "stop"), ("CANCEL", "stop"), ("Baja", "stop"),
    ("START", "start"), ("unstop", "start"),
    ("HELP", "help"), ("¡Ayuda!", "help"), ("info", "help"),
])
def test_given_a_keyword_in_any_case_when_parsed_then_it_is_recognised(text, keyword):
    assert parse(text).keyword == keyword


@pytest.mark.parametrize("text", ["C u tomorrow", "x marks the spot", "my nurse was very kind"])
def test_given_several_words_without_a_leading_keyword_when_parsed_then_it_is_free_text(text):
    parsed = parse(text)

    assert parsed.keyword == "free_text" and parsed.rest == text


@pytest.mark.parametrize("text", ["Hello?", "Y", "", "   ", "...", "🙂", "OK!"])
def test_given_one_unknown_word_or_nothing_when_parsed_then_it_is_unknown(text):
    assert parse(text).keyword == "unknown"


def test_given_a_complaint_word_when_parsed_then_the_rest_is_the_ticket_text_and_the_word_its_kind():
    complaint, suggestion = parse("Complaint: the food was cold"), parse("SUGGESTION more parking")

    assert complaint.keyword == suggestion.keyword == "complaint"
    assert complaint.rest == "the food was cold" and ticket_kind(complaint.word) == "complaint"
    assert ticket_kind(suggestion.word) == "suggestion"
