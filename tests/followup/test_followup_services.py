"""Storing questionnaire versions, recording answers and exporting them by study, on both databases."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.db.models import AuditEvent, FollowUpAnswer
from callcenter.followup.exceptions import (
    AlreadyAnswered,
    FollowUpError,
    InvalidAnswer,
    NotAsked,
    QuestionChanged,
    UnknownQuestionnaire,
    VersionUnchanged,
)
from callcenter.followup.schema import load_bank, load_questionnaire, load_questionnaires
from callcenter.followup.services import (
    EXPORT_FIELDS,
    AnswerGiven,
    QuestionnaireService,
    export_csv,
    export_json,
    pseudonym,
)

from .test_followup_schema import BANK, QUESTIONNAIRE, write

AGENT_ID = 7
KEY = b"study-key-of-the-research-office"


@pytest.fixture
def service(db) -> QuestionnaireService:
    return QuestionnaireService(db)


async def load_text(service: QuestionnaireService, tmp_path: Path, text: str = QUESTIONNAIRE,
                    bank_text: str = BANK):
    bank = load_bank(write(tmp_path, bank_text, "bank.yaml"))
    path = write(tmp_path, text, "q.yaml")
    return await service.load(bank, [(load_questionnaire(path, bank), text)])


def by_agent(response_id: int, code: str, value, **more) -> AnswerGiven:
    return AnswerGiven(response_id, code, value, channel="console", answered_by="agent",
                       agent_user_id=AGENT_ID, **more)


def by_phone(response_id: int, code: str, value) -> AnswerGiven:
    return AnswerGiven(response_id, code, value, channel="phone", answered_by="automated", call_id="c1")


# ---- versions ----

async def test_given_the_shipped_content_when_loaded_twice_then_the_second_load_stores_nothing(service):
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]

    first = await service.load(bank, items)
    second = await service.load(bank, items)

    assert len(first.stored) == 12 and first.questions == len(bank.questions)
    assert second.stored == () and len(second.unchanged) == 12 and second.questions == 0


async def test_given_a_changed_file_with_the_same_version_when_loaded_then_refused(service, tmp_path):
    await load_text(service, tmp_path)

    with pytest.raises(VersionUnchanged) as caught:
        await load_text(service, tmp_path, QUESTIONNAIRE.replace("{at_least: 38.5}", "{at_least: 38}"))

    assert "'wound_check' changed but still says version 1" in str(caught.value)


async def test_given_answers_in_version_1_when_version_2_is_loaded_then_old_answers_keep_version_1(
        service, tmp_path, db):
    await load_text(service, tmp_path)
    old = await service.start_response("wound_check", channel="console", patient_id=11, study="s")
    await service.record_answer(by_agent(old, "fever", True))
    await service.record_answer(by_agent(old, "temperature", 38.6))
    version_2 = (QUESTIONNAIRE.replace("version: 1", "version: 2")
                 .replace("{at_least: 38.5}", "{at_least: 38}"))

    report = await load_text(service, tmp_path, version_2)
    new = await service.start_response("wound_check", channel="console", patient_id=12, study="s")
    await service.record_answer(by_agent(new, "fever", True))
    recorded = await service.record_answer(by_agent(new, "temperature", 38.2))
    late = await service.record_answer(by_agent(old, "wound", "dry"))  # the old response goes on in version 1

    assert report.stored == ("wound_check 2",)
    assert recorded.questionnaire_version == "2" and [f.escalation for f in recorded.red_flags] == [
        "urgent_callback"]
    assert late.questionnaire_version == "1"
    rows = await service.export("s", actor_user_id=AGENT_ID)
    assert [(r["patient"], r["question_code"], r["version"]) for r in rows] == [
        (11, "fever", "1"), (11, "temperature", "1"), (12, "fever", "2"), (12, "temperature", "2"),
        (11, "wound", "1")]


async def test_given_a_bank_question_that_changes_type_when_loaded_then_refused(service, tmp_path):
    await load_text(service, tmp_path)
    changed = BANK.replace("  pain:\n    type: scale\n    min: 0\n    max: 10\n",
                           "  pain:\n    type: yes_no\n").replace(
        "  fever:\n    type: yes_no\n", "  fever:\n    type: scale\n    min: 0\n    max: 3\n")

    with pytest.raises(QuestionChanged) as caught:
        await load_text(service, tmp_path, QUESTIONNAIRE.replace("version: 1", "version: 2").replace(
            "show_if: {question: fever, equals: true}", "show_if: {question: fever, at_least: 1}"), changed)

    assert "question 'fever' was a yes_no (no unit), now a scale (no unit)" in str(caught.value)


async def test_given_a_bank_question_no_questionnaire_asks_when_it_changes_type_then_refused(
        service, tmp_path):
    await load_text(service, tmp_path)

    with pytest.raises(QuestionChanged) as caught:
        await load_text(service, tmp_path, bank_text=BANK.replace(
            "  pain:\n    type: scale\n    min: 0\n    max: 10\n", "  pain:\n    type: yes_no\n"))

    assert "question 'pain' was a scale (no unit), now a yes_no (no unit)" in str(caught.value)


async def test_given_no_such_questionnaire_when_a_response_starts_then_refused(service):
    with pytest.raises(UnknownQuestionnaire):
        await service.start_response("nothing", channel="phone")


# ---- answers ----

async def test_given_an_automated_call_when_answers_are_recorded_then_channel_time_who_and_call_are_kept(
        service, tmp_path, db):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="phone", patient_id=11, call_id="c1")

    first = await service.record_answer(by_phone(response, "fever", "no"))
    second = await service.record_answer(by_phone(response, "wound", "pus"))

    assert (first.value, first.next_question) == (False, "wound")  # temperature skipped: no fever
    assert [(f.disposition, f.escalation) for f in second.red_flags] == [("nurse_now", "nurse_transfer")]
    assert second.next_question == "notes"
    with db.session() as session:
        rows = session.scalars(select(FollowUpAnswer).order_by(FollowUpAnswer.id)).all()
    assert [(r.question_code, r.value, r.channel, r.answered_by, r.agent_user_id, r.call_id,
             r.red_flag_escalation) for r in rows] == [
        ("fever", {"value": False}, "phone", "automated", None, "c1", None),
        ("wound", {"value": "pus"}, "phone", "automated", None, "c1", "nurse_transfer")]
    assert all(r.answered_at is not None for r in rows)


async def test_given_a_question_hidden_by_skip_logic_when_answered_then_refused(service, tmp_path):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="console")
    await service.record_answer(by_agent(response, "fever", False))

    with pytest.raises(NotAsked):
        await service.record_answer(by_agent(response, "temperature", 38.0))


async def test_given_an_answer_out_of_range_when_recorded_then_refused_and_nothing_stored(
        service, tmp_path, db):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="console")
    await service.record_answer(by_agent(response, "fever", True))

    with pytest.raises(InvalidAnswer) as caught:
        await service.record_answer(by_agent(response, "temperature", 44))

    assert str(caught.value) == "temperature: 44 is out of range 34..43 °C"
    with db.session() as session:
        assert session.scalars(select(FollowUpAnswer.question_code)).all() == ["fever"]


async def test_given_a_question_answered_when_answered_again_then_the_first_answer_stands(service, tmp_path):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="console")
    await service.record_answer(by_agent(response, "fever", True))

    with pytest.raises(AlreadyAnswered):
        await service.record_answer(by_agent(response, "fever", False))


@pytest.mark.parametrize("given", [
    AnswerGiven(0, "fever", True, channel="console", answered_by="automated"),
    AnswerGiven(0, "fever", True, channel="phone", answered_by="agent"),
    AnswerGiven(0, "fever", True, channel="fax", answered_by="agent", agent_user_id=AGENT_ID),
])
async def test_given_an_answer_without_a_proper_giver_when_recorded_then_refused(service, tmp_path, given):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="console")

    with pytest.raises(FollowUpError):
        await service.record_answer(AnswerGiven(response, given.question_code, given.value, given.channel,
                                                given.answered_by, given.agent_user_id))


# ---- export ----

async def test_given_a_study_when_exported_then_one_row_per_answer_and_the_export_is_audited(
        service, tmp_path, db):
    await load_text(service, tmp_path)
    mine = await service.start_response("wound_check", channel="console", patient_id=11, study="trial")
    other = await service.start_response("wound_check", channel="console", patient_id=12, study="another")
    await service.record_answer(by_agent(mine, "fever", True, call_id="c9"))
    await service.record_answer(by_agent(mine, "temperature", "38.7"))
    await service.record_answer(by_agent(other, "fever", False))

    rows = await service.export("trial", actor_user_id=AGENT_ID)

    assert [{k: r[k] for k in ("patient", "questionnaire", "version", "question_code", "question_type",
                               "value", "unit", "channel", "answered_by", "agent_user_id", "call_id",
                               "red_flag_escalation")} for r in rows] == [
        {"patient": 11, "questionnaire": "wound_check", "version": "1", "question_code": "fever",
         "question_type": "yes_no", "value": True, "unit": None, "channel": "console", "answered_by": "agent",
         "agent_user_id": AGENT_ID, "call_id": "c9", "red_flag_escalation": None},
        {"patient": 11, "questionnaire": "wound_check", "version": "1", "question_code": "temperature",
         "question_type": "number", "value": 38.7, "unit": "°C", "channel": "console", "answered_by": "agent",
         "agent_user_id": AGENT_ID, "call_id": None, "red_flag_escalation": "urgent_callback"}]
    assert json.loads(export_json(rows))["answers"] == rows
    with db.session() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "followup_export")).one()
    assert (audit.actor_user_id, audit.detail) == (AGENT_ID, {"study": "trial", "rows": 2,
                                                              "pseudonymised": False})


async def test_given_the_pseudonym_option_when_exported_then_no_patient_id_and_a_stable_pseudonym(
        service, tmp_path):
    await load_text(service, tmp_path)
    first = await service.start_response("wound_check", channel="console", patient_id=11, study="trial")
    second = await service.start_response("wound_check", channel="console", patient_id=11, study="trial")
    await service.record_answer(by_agent(first, "fever", True, call_id="c9"))
    await service.record_answer(by_agent(second, "fever", False))

    rows = await service.export("trial", actor_user_id=AGENT_ID, pseudonym_key=KEY)

    assert [r["patient"] for r in rows] == [pseudonym(KEY, "trial", 11)] * 2
    assert pseudonym(KEY, "trial", 11) != pseudonym(KEY, "other", 11) != pseudonym(b"k2", "trial", 11)
    assert all("call_id" not in r and "agent_user_id" not in r and r["patient"] != 11 for r in rows)


async def test_given_the_study_of_the_questionnaire_when_a_response_names_none_then_it_is_used(
        service, tmp_path):
    await load_text(service, tmp_path, QUESTIONNAIRE.replace("department: surgery", "study: wound_trial"))
    response = await service.start_response("wound_check", channel="paper", patient_id=5)
    await service.record_answer(AnswerGiven(response, "fever", "yes", channel="paper", answered_by="agent",
                                            agent_user_id=AGENT_ID))

    rows = await service.export("wound_trial", actor_user_id=None)

    assert [(r["patient"], r["channel"], r["value"]) for r in rows] == [(5, "paper", True)]


async def test_given_answers_of_each_kind_when_exported_as_csv_then_cells_are_readable_and_guarded(
        service, tmp_path):
    await load_text(service, tmp_path, QUESTIONNAIRE.replace("  - code: notes\n",
                                                             "  - code: problems\n  - code: notes\n"))
    response = await service.start_response("wound_check", channel="console", patient_id=11, study="trial")
    given = (("fever", False), ("wound", "dry"), ("problems", ["clot", "fall"]), ("notes", "=1+1"))
    for code, value in given:
        await service.record_answer(by_agent(response, code, value))
    rows = await service.export("trial", actor_user_id=AGENT_ID)

    lines = export_csv(rows, pseudonymised=False).splitlines()

    assert lines[0] == ",".join(EXPORT_FIELDS)
    assert [line.split(",")[6] for line in lines[1:]] == ["no", "dry", "fall;clot", "'=1+1"]


async def test_given_a_pseudonymised_export_when_written_as_csv_then_no_identifying_column(service, tmp_path):
    await load_text(service, tmp_path)
    response = await service.start_response("wound_check", channel="console", patient_id=11, study="trial")
    await service.record_answer(by_agent(response, "fever", True, call_id="c9"))
    rows = await service.export("trial", actor_user_id=AGENT_ID, pseudonym_key=KEY)

    header, row = export_csv(rows, pseudonymised=True).splitlines()

    assert "call_id" not in header and "agent_user_id" not in header
    assert row.split(",")[1] == pseudonym(KEY, "trial", 11) and "c9" not in row
