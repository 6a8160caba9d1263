"""Which call script a call gets (scripts.yaml, checked against the real queues at start; a campaign's own),
and what the script may know: identity fields while the caller is unconfirmed, the record once confirmed."""
from __future__ import annotations

import pytest

from callcenter.demo import QUEUES
from callcenter.main import build, start, stop
from callcenter.triage.exceptions import TriageDataError
from callcenter.triage.guide import CALL_TYPES, ScriptGuide
from callcenter.triage.schema import load_script_map

from ..browser.live import console_config, seed_role_users
from ..test_auth import FAST

GUIDE = ScriptGuide()
AGENT = {"first_name": "Carla"}
# What triage/http.py gives every call (the site configured), and the patient fields before and after the
# identity check (triage/services.py _patient_fields).
CALL = {"id": "c" * 32, "queue": "appointments", "language": "en", "part_of_day": "morning",
        "hospital_name": "City Hospital", "callback_number": "+1 555 555 0100"}
UNCONFIRMED = {"id": 1, "confirmed": False, "first_name": "Ana", "last_name": "Ríos"}
CONFIRMED = UNCONFIRMED | {"confirmed": True, "mrn": "MRN1", "date_of_birth": "1970-01-02", "language": "en",
                           "phone": "+14155550180", "next_appointment": "06 May 2027 10:30"}


@pytest.mark.parametrize("patient", [None, UNCONFIRMED, CONFIRMED],
                         ids=["unknown", "unconfirmed", "confirmed"])
@pytest.mark.parametrize("call_type", CALL_TYPES)
def test_given_the_fields_the_server_gives_when_any_script_renders_then_no_missing_marker(call_type, patient):
    steps = GUIDE.render(call_type, patient=patient, call=CALL, agent=AGENT)

    assert [(s.id, s.missing) for s in steps if s.missing] == []


def test_given_a_confirmed_patient_with_an_appointment_when_scheduling_renders_then_it_is_named():
    steps = GUIDE.render("scheduling", patient=CONFIRMED, call=CALL, agent=AGENT)
    need = {s.id: s.html for s in steps}["need"]
    assert "06 May 2027 10:30" in need


def test_given_the_shipped_map_when_checked_against_the_demo_queues_then_every_name_is_a_queue():
    scripts = load_script_map()
    queues = {name for name, *_ in QUEUES}

    assert scripts.unknown_queues(queues) == []
    assert {q: scripts.for_queue(q) for q in sorted(queues)} == {
        "appointments": "scheduling", "complaints": "complaints", "emergency-nurse": "nurse_advice",
        "general": "general", "nurse": "nurse_advice", "refills": "refills", "results": "results"}
    assert scripts.for_queue("a-queue-added-later") == "general"


def test_given_an_unknown_script_in_the_map_when_loaded_then_file_line_and_suggestion(tmp_path):
    path = tmp_path / "scripts.yaml"
    path.write_text("default: general\nqueues:\n  appointments: sheduling\n")

    with pytest.raises(TriageDataError) as caught:
        load_script_map(path)

    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:3: queues: appointments: unknown call script 'sheduling'")
    assert "did you mean 'scheduling'" in problem


async def test_given_a_map_keyed_by_a_queue_that_does_not_exist_when_the_server_starts_then_it_refuses(
        tmp_path, sqlite_url):
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    with services.db.session() as session:
        from callcenter.demo import seed_demo
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    path = tmp_path / "scripts.yaml"
    path.write_text("default: general\nqueues:\n  scheduling: scheduling\n  results: results\n")
    services.triage.script_map = load_script_map(path)

    try:
        with pytest.raises(TriageDataError) as caught:
            await start(services, ari=False)
    finally:
        await stop(services)

    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:3: queues: no queue 'scheduling'") and "appointments" in problem


async def test_given_an_empty_database_when_the_server_starts_then_the_map_is_not_held_against_it(
        tmp_path, sqlite_url):
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    try:
        await start(services, ari=False)
        assert services.queues.queues == {}
    finally:
        await stop(services)
