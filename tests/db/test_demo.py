from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from callcenter.db.models import (
    Agent,
    Allergy,
    Appointment,
    Condition,
    Encounter,
    Patient,
    PatientFlag,
    PatientPhone,
    Queue,
    User,
)
from callcenter.demo import seed_demo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COUNTED = (Patient, PatientPhone, Allergy, Condition, PatientFlag, Encounter, Appointment, Queue, User, Agent)


def _counts(session) -> dict[str, int]:
    return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def test_given_empty_database_when_seeded_then_summary_counts_what_was_created(db):
    with db.session() as session:
        summary = seed_demo(session, now=NOW)

    assert summary["created"] == {"queues": 7, "users": 9, "agents": 6, "patients": 24}
    assert (summary["patients"], summary["queues"], summary["users"], summary["agents"]) == (24, 7, 9, 6)


def test_given_seeded_database_when_seeded_again_then_nothing_is_added(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        before = _counts(session)

    with db.session() as session:
        summary = seed_demo(session, now=NOW + timedelta(days=1))
        after = _counts(session)

    assert summary["created"] == {"queues": 0, "users": 0, "agents": 0, "patients": 0}
    assert summary["seeded"] is False
    assert after == before


def test_given_seeded_database_when_seeded_again_with_other_endpoint_template_then_desks_are_kept(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        session.scalar(select(Agent).where(Agent.number == "1002")).endpoint = "PJSIP/1002"
    with db.session() as session:
        seed_demo(session, endpoint_template="SIP/{number}", now=NOW)
        endpoints = {a.number: a.endpoint for a in session.scalars(select(Agent))}

    assert endpoints["1002"] == "PJSIP/1002" and endpoints["1001"] == "Local/auto-1001@agent-phones/n"


def test_given_seed_when_read_then_queues_have_service_levels_and_skills(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        queues = {q.name: (q.service_level_seconds, q.skill) for q in session.scalars(select(Queue))}

    assert queues == {
        "appointments": (30, "appointments"), "results": (60, "results"), "refills": (60, "refills"),
        "nurse": (120, "nurse"), "complaints": (60, "complaints"), "general": (30, "general"),
        "emergency-nurse": (20, "emergency-nurse"),
    }


def test_given_seed_when_read_then_agents_are_logged_out_with_skills_languages_and_endpoints(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        agents = {a.number: a for a in session.scalars(select(Agent))}

    assert sorted(agents) == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert {a.state for a in agents.values()} == {"logged_out"}
    assert agents["1001"].endpoint == "Local/auto-1001@agent-phones/n"
    assert set(agents["1002"].skills) == {"appointments", "refills", "general", "complaints"}
    assert set(agents["1005"].skills) == {"nurse", "results", "emergency-nurse"}
    assert "es" in agents["1005"].languages and agents["1004"].languages == ["en"]
    assert all(a.user_id is not None for a in agents.values())


def test_given_seeded_agents_when_reset_with_other_endpoint_template_then_endpoints_follow(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
    with db.session() as session:
        seed_demo(session, endpoint_template="PJSIP/{number}", now=NOW, reset=True)
        endpoints = set(session.scalars(select(Agent.endpoint)))

    assert endpoints == {f"PJSIP/{n}" for n in range(1001, 1007)}


def test_given_seed_when_read_then_patients_have_e164_phones_and_one_shared_landline(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        numbers = list(session.scalars(select(PatientPhone.e164)))
        shared = session.execute(select(PatientPhone.e164).group_by(PatientPhone.e164)
                                 .having(func.count() > 1)).scalars().all()

    assert all(n.startswith("+1415555") and len(n) == 12 for n in numbers)
    assert shared == ["+14155550150"]


def test_given_seed_when_read_then_three_patients_left_cardiology_in_the_last_two_days(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        recent = session.scalars(select(Encounter).where(
            Encounter.department == "cardiology", Encounter.discharged_at >= NOW - timedelta(days=2)))
        count = len(recent.all())

    assert count == 3


def test_given_seed_when_read_then_patients_speak_english_and_spanish_and_have_flags(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
        languages = set(session.scalars(select(Patient.language)))
        flags = set(session.scalars(select(PatientFlag.flag)))
        upcoming = session.scalar(select(func.count()).select_from(Appointment)
                                  .where(Appointment.starts_at > NOW))

    assert languages == {"en", "es"}
    assert flags == {"chronic", "vip"}
    assert upcoming >= 10
