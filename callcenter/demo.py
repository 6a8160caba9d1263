"""Fictional demo data: patients, queues, staff and agents.

Loaded once: `scripts/start` seeds at every start, and an admin edits the demo's desks, queues and users in
the console, so seeding a database that holds the demo already changes nothing. `reset=True`
(`callcenter seed-demo --reset`) puts the demo's own settings back and re-creates what was deleted.

Every person here is invented; phone numbers are in +1 415 555 01xx, a range reserved for fiction. Dates of
encounters and appointments are relative to when the seed runs, so a fresh seed always has patients
discharged from cardiology in the last two days and appointments in the coming weeks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db.models import (
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
from .db.types import utcnow
from .phones import normalize

DEFAULT_ENDPOINT_TEMPLATE = "Local/auto-{number}@agent-phones/n"
DEMO_REGION = "US"
SCHEDULER_SKILLS = ["appointments", "refills", "general", "complaints"]
NURSE_SKILLS = ["nurse", "results", "emergency-nurse"]


@dataclass(frozen=True)
class DemoPatient:
    mrn: str
    given_name: str
    family_name: str
    born: date
    sex: str
    language: str
    # (number as a patient would write it, kind, is_primary)
    phones: tuple[tuple[str, str, bool], ...]
    time_zone: str | None = "America/Los_Angeles"
    allergies: tuple[tuple[str, str, str], ...] = ()
    conditions: tuple[tuple[str, str, bool], ...] = ()
    flags: tuple[tuple[str, str | None], ...] = ()
    # (kind, department, started days ago, discharged days ago or None, summary)
    encounters: tuple[tuple[str, str, float, float | None, str], ...] = ()
    # (department, clinician, in days, status, location)
    appointments: tuple[tuple[str, str, float, str, str], ...] = ()


@dataclass(frozen=True)
class DemoAgent:
    number: str
    username: str
    name: str
    role: str
    skills: list[str]
    languages: list[str] = field(default_factory=lambda: ["en"])


# One home landline, shared by the García López couple.
GARCIA_LANDLINE = "(415) 555-0150"

PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient("MRN100001", "Emily", "Johnson", date(1984, 3, 12), "F", "en",
                (("415-555-0101", "mobile", True),),
                allergies=(("Latex", "Contact dermatitis", "mild"),),
                encounters=(("visit", "primary care", 40, None, "Annual check-up"),),
                appointments=(("primary care", "Dr. Hannah Brooks", 6, "booked", "Clinic B, room 12"),)),
    DemoPatient("MRN100002", "Michael", "Smith", date(1956, 7, 30), "M", "en",
                (("(415) 555-0102", "mobile", True), ("+1 415 555 0103", "work", False)),
                allergies=(("Penicillin", "Hives", "moderate"),),
                conditions=(("Heart failure", "I50.9", True), ("Hypertension", "I10", True)),
                flags=(("chronic", "Heart failure programme"),),
                encounters=(("admission", "cardiology", 6, 1, "Heart failure; diuretics adjusted"),
                            ("visit", "cardiology", 60, None, "Follow-up echo")),
                appointments=(("cardiology", "Dr. Priya Nair", 7, "confirmed", "Heart Center, 3rd floor"),)),
    DemoPatient("MRN100003", "Sarah", "Williams", date(1990, 11, 2), "F", "en",
                (("415.555.0104", "mobile", True),),
                encounters=(("visit", "dermatology", 90, None, "Mole check"),)),
    DemoPatient("MRN100004", "David", "Brown", date(1948, 1, 19), "M", "en",
                (("+14155550105", "mobile", True),),
                allergies=(("Penicillin", "Anaphylaxis", "severe"), ("Shellfish", "Swelling", "moderate")),
                conditions=(("Type 2 diabetes", "E11.9", True),),
                flags=(("vip", "Board member; route to senior staff"), ("chronic", None)),
                encounters=(("visit", "endocrinology", 20, None, "HbA1c review"),),
                appointments=(("endocrinology", "Dr. Samuel Okafor", 14, "booked", "Clinic A, room 4"),)),
    DemoPatient("MRN100005", "Jennifer", "Davis", date(1972, 5, 23), "F", "en",
                (("1 415 555 0106", "home", True),),
                appointments=(("radiology", None, 2, "confirmed", "Imaging, ground floor"),)),
    DemoPatient("MRN100006", "Robert", "Miller", date(1939, 9, 8), "M", "en",
                (("tel:+1-415-555-0107", "home", True),),
                conditions=(("Atrial fibrillation", "I48.91", True),),
                flags=(("chronic", "Anticoagulation clinic"),),
                encounters=(("admission", "cardiology", 4, 1.25, "Rate control; started apixaban"),),
                appointments=(("cardiology", "Dr. Priya Nair", 10, "booked", "Heart Center, 3rd floor"),)),
    DemoPatient("MRN100007", "Linda", "Wilson", date(1965, 12, 14), "F", "en",
                (("4155550108", "mobile", True),),
                allergies=(("Ibuprofen", "Stomach bleeding", "severe"),),
                encounters=(("visit", "orthopedics", 15, None, "Knee pain"),),
                appointments=(("physiotherapy", "Alex Romero, PT", 3, "booked", "Rehab, room 2"),)),
    DemoPatient("MRN100008", "James", "Taylor", date(2001, 4, 5), "M", "en",
                (("415 555 0109", "mobile", True),)),
    DemoPatient("MRN100009", "Patricia", "Anderson", date(1950, 6, 17), "F", "en",
                (("+1 (415) 555-0110", "home", True),),
                conditions=(("COPD", "J44.9", True),),
                flags=(("chronic", "Home oxygen"),),
                encounters=(("admission", "pulmonology", 30, 25, "COPD exacerbation"),),
                appointments=(("pulmonology", "Dr. Grace Kim", 5, "confirmed", "Clinic C, room 7"),)),
    DemoPatient("MRN100010", "Christopher", "Thomas", date(1979, 8, 29), "M", "en",
                (("415-555-0111", "mobile", True),),
                appointments=(("primary care", "Dr. Hannah Brooks", -3, "completed", "Clinic B, room 12"),)),
    DemoPatient("MRN100011", "Olivia", "Martin", date(2015, 2, 11), "F", "en",
                (("(415) 555-0112", "mobile", True),),
                allergies=(("Peanuts", "Anaphylaxis", "severe"),),
                encounters=(("visit", "pediatrics", 10, None, "Ear infection"),),
                appointments=(("pediatrics", "Dr. Laura Chen", 12, "booked", "Children's wing"),)),
    DemoPatient("MRN100012", "Daniel", "Lee", date(1988, 10, 3), "X", "en",
                (("415.555.0113", "mobile", True),),
                time_zone=None),
    DemoPatient("MRN100013", "María", "García López", date(1961, 3, 25), "F", "es",
                ((GARCIA_LANDLINE, "home", True), ("415-555-0114", "mobile", False)),
                conditions=(("Hipotiroidismo", "E03.9", True),),
                appointments=(("endocrinology", "Dr. Samuel Okafor", 9, "booked", "Clinic A, room 4"),)),
    DemoPatient("MRN100014", "José", "García López", date(1958, 11, 30), "M", "es",
                ((GARCIA_LANDLINE, "home", True),),
                allergies=(("Sulfamidas", "Erupción", "moderate"),),
                conditions=(("Diabetes tipo 2", "E11.9", True), ("Cardiopatía isquémica", "I25.10", True)),
                flags=(("chronic", None),),
                encounters=(("admission", "cardiology", 3, 0.8, "Dolor torácico; angioplastia"),
                            ("visit", "cardiology", 45, None, "Prueba de esfuerzo")),
                appointments=(("cardiology", "Dr. Priya Nair", 8, "booked", "Heart Center, 3rd floor"),)),
    DemoPatient("MRN100015", "Carmen", "Rodríguez Pérez", date(1975, 7, 7), "F", "es",
                (("+1 415 555 0115", "mobile", True),),
                appointments=(("gynecology", "Dr. Marta Vidal", 4, "confirmed", "Women's Health"),)),
    DemoPatient("MRN100016", "Juan", "Martínez Sánchez", date(1969, 1, 15), "M", "es",
                (("415 555 0116", "mobile", True),),
                encounters=(("visit", "emergency", 2, None, "Esguince de tobillo"),)),
    DemoPatient("MRN100017", "Lucía", "Hernández Gómez", date(1993, 9, 21), "F", "es",
                (("4155550117", "mobile", True),),
                appointments=(("obstetrics", "Dr. Marta Vidal", 1, "confirmed", "Women's Health"),)),
    DemoPatient("MRN100018", "Alejandro", "Fernández Ruiz", date(1944, 4, 4), "M", "es",
                (("415-555-0118", "home", True),),
                allergies=(("Codeína", "Náuseas", "mild"),),
                conditions=(("Insuficiencia renal crónica", "N18.3", True),),
                flags=(("vip", "Donante del hospital"), ("chronic", "Diálisis martes y jueves")),
                encounters=(("admission", "nephrology", 50, 44, "Ajuste de diálisis"),),
                appointments=(("nephrology", "Dr. Omar Haddad", 2, "booked", "Dialysis unit"),)),
    DemoPatient("MRN100019", "Sofía", "Torres Díaz", date(1998, 12, 12), "F", "es",
                (("(415) 555-0119", "mobile", True),),
                appointments=(("dermatology", "Dr. Ines Calvo", 20, "cancelled", "Clinic D, room 1"),)),
    DemoPatient("MRN100020", "Miguel", "Ramírez Flores", date(1952, 8, 18), "M", "es",
                (("415.555.0120", "home", True),),
                conditions=(("Hipertensión", "I10", True),),
                flags=(("chronic", None),),
                encounters=(("visit", "primary care", 12, None, "Control de tensión arterial"),)),
    DemoPatient("MRN100021", "Isabel", "Morales Castillo", date(1980, 2, 28), "F", "es",
                (("+14155550121", "mobile", True),)),
    DemoPatient("MRN100022", "Diego", "Vargas Romero", date(1986, 6, 6), "M", "es",
                (("415 555 0122", "work", True),), time_zone="America/Mexico_City"),
    DemoPatient("MRN100023", "Ana", "Jiménez Navarro", date(1971, 10, 10), "F", "es",
                (("1-415-555-0123", "mobile", True),),
                allergies=(("Penicilina", "Urticaria", "moderate"),),
                appointments=(("radiology", None, 6, "booked", "Imaging, ground floor"),)),
    DemoPatient("MRN100024", "Thomas", "Clark", date(1945, 3, 3), "U", "en",
                (("415-555-0124", "home", True),),
                conditions=(("Coronary artery disease", "I25.10", True),),
                flags=(("chronic", None),),
                encounters=(("admission", "cardiology", 16, 10, "Stent placement"),)),
)

# (name, title, service level seconds, priority)
QUEUES = (
    ("appointments", "Appointments", 30, 0),
    ("results", "Test results", 60, 0),
    ("refills", "Prescription refills", 60, 0),
    ("nurse", "Nurse advice (clinical)", 120, 5),
    ("complaints", "Patient relations", 60, 0),
    ("general", "General enquiries", 30, 0),
    ("emergency-nurse", "Urgent nurse line", 20, 10),
)

AGENTS = (
    DemoAgent("1001", "alice", "Alice Moreno", "agent", SCHEDULER_SKILLS, ["en", "es"]),
    DemoAgent("1002", "brian", "Brian Chen", "agent", SCHEDULER_SKILLS),
    DemoAgent("1003", "carla", "Carla Reyes", "agent", SCHEDULER_SKILLS, ["en", "es"]),
    DemoAgent("1004", "dana", "Dana Whitfield, RN", "nurse", NURSE_SKILLS),
    DemoAgent("1005", "elena", "Elena Ortiz, RN", "nurse", NURSE_SKILLS, ["en", "es"]),
    DemoAgent("1006", "frank", "Frank Osei, RN", "nurse", NURSE_SKILLS),
)

# Staff without a desk: (username, display name, role)
OTHER_USERS = (("sam", "Sam Patel", "supervisor"), ("admin", "Administrator", "admin"),
               ("rosa", "Rosa Lindqvist", "relations"))   # the patient-relations team: tickets only


def seed_demo(session: Session, endpoint_template: str = DEFAULT_ENDPOINT_TEMPLATE,
              now: datetime | None = None, *, reset: bool = False) -> dict[str, Any]:
    """Load the demo into a database that does not hold it yet; desks that exist already (a test's own) get
    the demo's endpoint, skills and languages. On a database that holds the demo, nothing changes unless
    `reset`: then the demo's queues, desks and users get their demo settings back and what is missing is
    created again. Returns what was created and what now exists; `seeded` says whether anything was done."""
    if not reset and _demo_present(session):
        return {"seeded": False, "created": dict.fromkeys(("queues", "users", "agents", "patients"), 0),
                **_totals(session)}
    now = now or utcnow()
    created = {
        "queues": sum(_ensure_queue(session, *q, reset=reset) for q in QUEUES),
        "users": sum(_ensure_user(session, *u, reset=reset) for u in _staff()),
        "agents": sum(_ensure_agent(session, a, endpoint_template) for a in AGENTS),
        "patients": sum(_ensure_patient(session, p, now) for p in PATIENTS),
    }
    session.flush()
    campaign_demo = _ensure_campaign_demo(session, now)  # issue 6: targets and campaigns for the demo
    session.flush()
    return {"seeded": True, "created": created, **_totals(session), "campaign_demo": campaign_demo}


def _demo_present(session: Session) -> bool:
    """The demo's patients mark a database as seeded: the console edits desks, queues and users (an admin may
    even delete them all), never patients, and tests create their own desks and users before seeding."""
    mrns = [p.mrn for p in PATIENTS]
    return session.scalar(select(Patient.id).where(Patient.mrn.in_(mrns)).limit(1)) is not None


# Outbound campaigns (issue 6): demo patients with an appointment tomorrow, so the reminder campaign has
# targets whenever the demo is seeded (the cardiology discharges above already feed the follow-up).
CAMPAIGN_DEMO_APPOINTMENTS = (("MRN100003", "dermatology", "Dr. Ana Ruiz"), ("MRN100005", "cardiology", None),
                              ("MRN100013", "endocrinology", "Dr. Samuel Okafor"))
CAMPAIGN_DEMO_LOCATION = "Main building, outpatients"


def _ensure_campaign_demo(session: Session, now: datetime) -> dict[str, int]:
    from .campaigns.schema import load_campaign_file
    from .config import PROJECT_ROOT
    from .db.models import Campaign
    appointments = 0
    tomorrow = (now + timedelta(days=1)).replace(hour=16, minute=0, second=0, microsecond=0)
    for mrn, department, clinician in CAMPAIGN_DEMO_APPOINTMENTS:
        patient_id = session.scalar(select(Patient.id).where(Patient.mrn == mrn))
        # Once per patient, like the rest of the demo: seeding again another day adds nothing.
        known = session.scalar(select(Appointment.id).where(
            Appointment.patient_id == patient_id, Appointment.location == CAMPAIGN_DEMO_LOCATION))
        if patient_id and known is None:
            session.add(Appointment(patient_id=patient_id, department=department, clinician=clinician,
                                    starts_at=tomorrow, status="booked", location=CAMPAIGN_DEMO_LOCATION))
            appointments += 1
    campaigns = 0
    for path in sorted((PROJECT_ROOT / "campaigns").glob("*.yaml")):
        campaign = load_campaign_file(path)
        if session.scalar(select(Campaign.id).where(Campaign.name == campaign.name)) is None:
            session.add(Campaign(name=campaign.name, kind=campaign.kind, title=campaign.title, version=1,
                                 source_yaml=path.read_text(encoding="utf-8"), loaded_from=str(path)))
            campaigns += 1
    return {"appointments_tomorrow": appointments, "campaigns": campaigns}


def _staff() -> tuple[tuple[str, str, str], ...]:
    return tuple((a.username, a.name, a.role) for a in AGENTS) + OTHER_USERS


def _totals(session: Session) -> dict[str, int]:
    models = {"patients": Patient, "queues": Queue, "users": User, "agents": Agent}
    return {name: session.scalar(select(func.count()).select_from(model)) for name, model in models.items()}


def _ensure_queue(session: Session, name: str, title: str, service_level: int, priority: int, *,
                  reset: bool) -> bool:
    settings = dict(title=title, skill=name, service_level_seconds=service_level, priority=priority)
    queue = session.scalar(select(Queue).where(Queue.name == name))
    if queue is None:
        session.add(Queue(name=name, **settings))
        return True
    if reset:
        for key, value in (settings | {"moh_class": "default"}).items():
            setattr(queue, key, value)
    return False


def _ensure_user(session: Session, username: str, display_name: str, role: str, *, reset: bool) -> bool:
    user = _user(session, username)
    if user is None:
        # No password: the demo signs in however the console's auth decides (a hash is set by an admin tool).
        session.add(User(username=username, display_name=display_name, role=role))
        return True
    if reset:
        user.display_name, user.role, user.active = display_name, role, True
    return False


def _user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def _ensure_agent(session: Session, spec: DemoAgent, endpoint_template: str) -> bool:
    endpoint = endpoint_template.format(number=spec.number)
    agent = session.scalar(select(Agent).where(Agent.number == spec.number))
    if agent is not None:  # a desk made before the demo was loaded (tests' role users), or a reset
        agent.endpoint, agent.skills, agent.languages = endpoint, list(spec.skills), list(spec.languages)
        return False
    session.add(Agent(user_id=_user(session, spec.username).id, number=spec.number, name=spec.name,
                      endpoint=endpoint, skills=list(spec.skills), languages=list(spec.languages),
                      state="logged_out"))
    return True


def _ensure_patient(session: Session, spec: DemoPatient, now: datetime) -> bool:
    if session.scalar(select(Patient.id).where(Patient.mrn == spec.mrn)) is not None:
        return False
    session.add(_patient(spec, now))
    return True


def _patient(spec: DemoPatient, now: datetime) -> Patient:
    patient = Patient(mrn=spec.mrn, given_name=spec.given_name, family_name=spec.family_name,
                      date_of_birth=spec.born, sex=spec.sex, language=spec.language, time_zone=spec.time_zone)
    patient.phones = [_phone(raw, kind, primary) for raw, kind, primary in spec.phones]
    patient.allergies = [Allergy(substance=s, reaction=r, severity=sev) for s, r, sev in spec.allergies]
    patient.conditions = [Condition(name=n, code=c, chronic=chronic) for n, c, chronic in spec.conditions]
    patient.flags = [PatientFlag(flag=f, note=note) for f, note in spec.flags]
    patient.encounters = [_encounter(e, now) for e in spec.encounters]
    patient.appointments = [_appointment(a, now) for a in spec.appointments]
    return patient


def _phone(raw: str, kind: str, primary: bool) -> PatientPhone:
    number = normalize(raw, DEMO_REGION)
    if not number.is_valid:
        raise ValueError(f"demo phone number for a {kind} phone does not normalise")
    return PatientPhone(e164=number.e164, kind=kind, is_primary=primary)


def _encounter(spec: tuple[str, str, float, float | None, str], now: datetime) -> Encounter:
    kind, department, started_days_ago, discharged_days_ago, summary = spec
    discharged = None if discharged_days_ago is None else now - timedelta(days=discharged_days_ago)
    return Encounter(kind=kind, department=department, started_at=now - timedelta(days=started_days_ago),
                     discharged_at=discharged, summary=summary)


def _appointment(spec: tuple[str, str | None, float, str, str], now: datetime) -> Appointment:
    department, clinician, in_days, status, location = spec
    # On the hour, mid-morning Pacific (17:00 UTC), in_days from today.
    day = (now + timedelta(days=in_days)).replace(hour=17, minute=0, second=0, microsecond=0)
    return Appointment(department=department, clinician=clinician, starts_at=day, status=status,
                       location=location)
