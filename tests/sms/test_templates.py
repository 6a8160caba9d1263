"""The texts as data (templates.yaml): the shipped file loads and every text renders within the length
bound; a placeholder outside TextFacts, clinical wording, a missing language or a text too long is refused
with file:line."""
from __future__ import annotations

from datetime import datetime

import pytest

from callcenter.sms import templates
from callcenter.sms.exceptions import TemplateError
from callcenter.sms.templates import LONGEST, MAX_SEGMENTS, TextFacts, load, load_text, segments

HEAD = ('version: 1\nsource: "test"\nreview: "Example content, requires review."\nlanguages: [en, es]\n'
        'formats:\n  en: {date: "%m/%d/%Y", time: "%I:%M %p"}\n  es: {date: "%d/%m/%Y", time: "%H:%M"}\n'
        'templates:\n')


def test_given_the_shipped_templates_when_loaded_then_every_text_renders_in_every_language_within_bounds():
    shipped = load()

    assert shipped.review and shipped.source and shipped.languages == ("en", "es")
    for name in shipped.texts:
        for language in shipped.languages:
            text, used = shipped.render(name, language, LONGEST)
            assert used == language and "{" not in text and segments(text) <= MAX_SEGMENTS, name


def test_given_a_language_the_file_lacks_when_rendered_then_the_first_language_is_used():
    shipped = load()

    text, used = shipped.render("help", "fr", TextFacts(hospital="H", callback="1"))

    assert used == "en" and text.startswith("H: reply C")


def test_given_an_appointment_time_when_formatted_then_each_language_writes_its_own_way():
    shipped = load()
    moment = datetime(2026, 3, 9, 14, 30)

    assert shipped.when(moment, "en") == ("03/09/2026", "02:30 PM")
    assert shipped.when(moment, "es") == ("09/03/2026", "14:30")


@pytest.mark.parametrize("en, problem", [
    ("'{hospital}: see {department} at {time}'", "unknown placeholder {department}"),
    ("'{hospital}: your test results are ready'", "no clinical details"),
    ("'{hospital}: your Oncology visit'", "no clinical details"),
    ("'" + "A very long text indeed. " * 30 + "'", "too long"),
])
def test_given_a_bad_template_when_loaded_then_refused_naming_file_line_and_problem(en, problem):
    text = HEAD + f"  reminder:\n    en: {en}\n    es: 'ok {{hospital}}'\n"

    with pytest.raises(TemplateError) as error:
        load_text(text, "templates.yaml")

    assert "templates.yaml:10: templates.reminder: en: " in str(error.value) and problem in str(error.value)


def test_given_a_template_missing_a_language_when_loaded_then_refused():
    with pytest.raises(TemplateError, match="yaml:10: templates.reminder: missing required key 'es'"):
        load_text(HEAD + "  reminder:\n    en: 'hi {hospital}'\n", "templates.yaml")


def test_given_texts_when_counted_then_gsm_and_ucs2_segments_follow_the_standard():
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2   # extension characters count twice
    assert segments("ó" * 70) == 1 and segments("ó" * 71) == 2   # outside GSM: UCS-2
    assert templates.segments("ó" * 135) == 3
