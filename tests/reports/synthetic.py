"""A synthetic month of discharges and their follow-ups (November 2026, hospital time America/New_York), every
figure of the follow-up performance reports worked out by hand in test_services.py.

Settings: follow-up within 3 days, Surgery within 1; a staff follow-up needs 60 s of recorded call; "today" is
2026-12-03. Discharges of November (local), with how their follow-up went:

  E1  Cardiology C1 Dr A  Nov  2 10:00  completed Nov 4 by 1001, call c1 recorded 70 + 50 s  on time, verified
  E2  Cardiology C1 Dr A  Nov 10 09:00  completed Nov 14 by 1001, call c2 recorded 30 s     late, short
  E3  Cardiology C2 Dr B  Nov 20 12:00  pending, one automated attempt (no answer)           overdue
  E4  Surgery    S1 Dr C  Nov 30 23:30  completed Dec 1 23:30 local (Dec 2 UTC) by an        on time (local
                          (Dec 1 UTC)   automated call, red flag; 3 min of talk, a triage    days; UTC: late)
                                        answer on the call                                   automated
  E5  Surgery    S1 Dr C  Nov 15 08:00  completed the same day, no call linked               on time, no call
  E6  Surgery    S2 -     Nov 25 10:00  failed: 1002 called twice (busy)                     overdue, failed
  E10 Medicine   M1 Dr D  Nov 28 10:00  no follow-up planned                                 overdue
  E11 Cardiology C1 Dr A  Nov 29 10:00  completed Dec 1 by 1002, c11 not recorded            on time, no rec.
  E12 Medicine   M1 Dr D  Nov 30 08:00  pending, not called                                  not yet due
Outside the month: E7 discharged Oct 31 23:30 local (Nov 1 UTC), E8 Dec 1 00:30 local, E9 a visit in November.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from callcenter.db.models import (
    Agent,
    Call,
    CallEvent,
    Campaign,
    CampaignAttempt,
    CampaignTarget,
    Encounter,
    Patient,
    Recording,
)

TZ = ZoneInfo("America/New_York")
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
TODAY = date(2026, 12, 3)
A1, A2 = 101, 102  # clear of the desks the console tests seed
CAMPAIGN = "discharge-fu"


def at(day: date, clock: str = "10:00") -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=TZ).astimezone(UTC)


def nov(d: int, clock: str = "10:00") -> datetime:
    return at(date(2026, 11, d), clock)


def dec(d: int, clock: str = "10:00") -> datetime:
    return at(date(2026, 12, d), clock)


# id, department, ward, attending, discharged, kind
ENCOUNTERS = [
    (1, "Cardiology", "C1", "Dr A", nov(2)),
    (2, "Cardiology", "C1", "Dr A", nov(10, "09:00")),
    (3, "Cardiology", "C2", "Dr B", nov(20, "12:00")),
    (4, "Surgery", "S1", "Dr C", nov(30, "23:30")),
    (5, "Surgery", "S1", "Dr C", nov(15, "08:00")),
    (6, "Surgery", "S2", None, nov(25)),
    (7, "Cardiology", "C1", "Dr A", at(date(2026, 10, 31), "23:30")),
    (8, "Cardiology", "C1", "Dr A", dec(1, "00:30")),
    (10, "Medicine", "M1", "Dr D", nov(28)),
    (11, "Cardiology", "C1", "Dr A", nov(29)),
    (12, "Medicine", "M1", "Dr D", nov(30, "08:00")),
]
# target id = encounter id: status, completed_at
TARGETS = {1: ("completed", nov(4)), 2: ("completed", nov(14, "09:00")), 3: ("pending", None),
           4: ("completed", dec(1, "23:30")), 5: ("completed", nov(15, "18:00")), 6: ("failed", nov(27)),
           7: ("completed", nov(2)), 8: ("pending", None), 11: ("completed", dec(1)), 12: ("pending", None)}
# attempt: (encounter, call id, agent, started, result, outcome)
ATTEMPTS = [
    (1, "c1", A1, nov(4, "09:50"), "person", "completed"),
    (2, "c2", A1, nov(14, "08:55"), "person", "completed"),
    (3, "c3", None, nov(21), "no_answer", None),
    (4, "c4", None, dec(1, "23:25"), "person", "red_flag_nurse"),
    (6, "c6a", A2, nov(26), "busy", None),
    (6, "c6b", A2, nov(27), "busy", None),
    (11, "c11", A2, dec(1, "09:55"), "person", "completed"),
]
RECORDINGS = [("c1", 70.0), ("c1", 50.0), ("c2", 30.0)]


def seed(session) -> None:
    session.add_all([Agent(id=A1, number="1001", name="Ana", endpoint="Local/1001"),
                     Agent(id=A2, number="1002", name="Ben", endpoint="Local/1002"),
                     Campaign(name=CAMPAIGN, kind="discharge_followup", title="Discharge follow-up",
                              source_yaml="{}")])
    for eid, *_ in ENCOUNTERS + [(9,)]:
        session.add(Patient(id=eid, mrn=f"M{eid}", given_name="Pat", family_name=f"Number{eid}",
                            date_of_birth=date(1950, 1, 1)))
    session.flush()
    for eid, department, ward, attending, discharged in ENCOUNTERS:
        session.add(Encounter(id=eid, patient_id=eid, kind="admission", department=department, ward=ward,
                              attending=attending, started_at=discharged.replace(day=1, hour=1),
                              discharged_at=discharged))
    session.add(Encounter(id=9, patient_id=9, kind="visit", department="Clinic", started_at=nov(5),
                          discharged_at=nov(5, "11:00")))
    session.flush()
    for eid, (status, completed_at) in TARGETS.items():
        session.add(CampaignTarget(id=eid, campaign_name=CAMPAIGN, patient_id=eid, subject_kind="encounter",
                                   subject_id=eid, status=status, completed_at=completed_at))
    session.flush()
    for i, (eid, call_id, agent, started, result, outcome) in enumerate(ATTEMPTS, start=1):
        session.add(Call(id=call_id, direction="outbound", status="ended", agent_id=agent, patient_id=eid,
                         started_at=started, answered_at=started if result == "person" else None,
                         ended_at=started.replace(minute=started.minute + 3), campaign_name=CAMPAIGN))
        session.flush()
        session.add(CampaignAttempt(id=i, target_id=eid, campaign_name=CAMPAIGN, patient_id=eid,
                                    call_id=call_id, started_at=started, result=result, outcome=outcome))
    # The discharge flow's red-flag questions answered on the automated call (its proof with the talk time).
    session.add(CallEvent(call_id="c4", ts=dec(1, "23:26"), type="triage_answered",
                          data={"question": "wound_bleeding", "answer": True}))
    for n, (call_id, seconds) in enumerate(RECORDINGS):
        session.add(Recording(call_id=call_id, agent_id=A1, name=f"call-{call_id}-{n}",
                              duration_seconds=seconds))
