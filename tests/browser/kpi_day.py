"""A small synthetic day of inbound calls, written as call events, with its KPIs worked out by hand.

Used by the KPI dashboard tests (tests/test_kpi_http.py, tests/browser/test_kpi_dashboard.py). Two desks are
signed in from 08:00 to 10:00 local time; seven calls reach three queues (demo queues: general and
appointments answer within 30 s, nurse within 120 s):

  interval  call  queue         what happens                                   desk  talk  wrap-up
  08:00     c1    general       answered after 10 s                            9001  120   30
  08:00     c2    general       answered after 40 s (late: over 30 s)          9002   60    0
  08:00     c3    general       abandoned after 20 s
  08:00     c4    general       hung up after 3 s: a short abandon
  08:15     c5    appointments  answered after 25 s                            9001  200   20
  08:15     c6    nurse         answered after 100 s (in its 120 s)            9002  300   60
  09:00     c7    appointments  abandoned after 60 s

Expected, by hand (docs/kpi.md): offered 7, answered 4, abandoned 2, short abandons 1; service level =
answered in time 3 / (7 - 1) = 0.5; abandon rate 2 / 6 = 0.3333; ASA (10 + 40 + 25 + 100) / 4 = 43.75 s;
AHT (150 + 60 + 220 + 360) / 4 = 197.5 s; occupancy 790 s busy / 14400 s signed in = 0.0549.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callcenter.db.database import Database
from callcenter.db.models import Agent, CallEvent


@dataclass(frozen=True)
class SeedCall:
    call_id: str
    queue: str
    queued: str        # local "HH:MM:SS"
    wait: int          # seconds until answered or gone
    desk: str | None   # None: the caller hung up
    talk: int = 0
    wrapup: int = 0


CALLS = (
    SeedCall("c1", "general", "08:01:00", 10, "9001", 120, 30),
    SeedCall("c2", "general", "08:02:00", 40, "9002", 60, 0),
    SeedCall("c3", "general", "08:05:00", 20, None),
    SeedCall("c4", "general", "08:06:00", 3, None),
    SeedCall("c5", "appointments", "08:20:00", 25, "9001", 200, 20),
    SeedCall("c6", "nurse", "08:22:00", 100, "9002", 300, 60),
    SeedCall("c7", "appointments", "09:00:00", 60, None),
)
DESKS = ("9001", "9002")
SIGNED_IN = ("08:00:00", "10:00:00")

# The whole day, by hand (see the module docstring).
TOTALS = {"offered": 7, "answered": 4, "abandoned": 2, "short_abandons": 1, "service_level": 0.5,
          "abandon_rate": 0.3333, "asa_seconds": 43.75, "aht_seconds": 197.5, "occupancy": 0.0549}
# Per 15-minute interval (local start time).
INTERVALS = {
    "08:00": {"offered": 4, "answered": 2, "abandoned": 1, "short_abandons": 1, "service_level": 0.3333,
              "abandon_rate": 0.3333, "asa_seconds": 25.0},
    "08:15": {"offered": 2, "answered": 2, "abandoned": 0, "short_abandons": 0, "service_level": 1.0,
              "abandon_rate": 0.0, "asa_seconds": 62.5},
    "09:00": {"offered": 1, "answered": 0, "abandoned": 1, "short_abandons": 0, "service_level": 0.0,
              "abandon_rate": 1.0, "asa_seconds": None},
}
# Per queue.
QUEUES = {
    "general": {"offered": 4, "answered": 2, "abandoned": 1, "short_abandons": 1, "service_level": 0.3333},
    "appointments": {"offered": 2, "answered": 1, "abandoned": 1, "short_abandons": 0, "service_level": 0.5},
    "nurse": {"offered": 1, "answered": 1, "abandoned": 0, "short_abandons": 0, "service_level": 1.0},
}


def seed_day(db: Database, day: date, tz: ZoneInfo, prefix: str = "") -> None:
    """Write the day's call events (call ids `prefix` + c1..c7, padded to 32 characters)."""
    with db.session() as session:
        agents = dict(session.execute(select(Agent.number, Agent.id).where(Agent.number.in_(DESKS))).all())
        at = lambda hms, plus=0: (datetime.combine(day, time.fromisoformat(hms), tz)  # noqa: E731
                                  + timedelta(seconds=plus))
        for desk in DESKS:
            session.add(_event(None, at(SIGNED_IN[0]), "agent_state", agents[desk], None, state="available"))
            session.add(_event(None, at(SIGNED_IN[1]), "agent_state", agents[desk], None, state="logged_out"))
        for call in CALLS:
            session.add_all(_call_events(call, (prefix + call.call_id).ljust(32, "0"), at, agents))


def _call_events(call: SeedCall, call_id: str, at, agents: dict[str, int]) -> list[CallEvent]:
    queued = at(call.queued)
    events = [_event(call_id, queued, "queued", None, call.queue)]
    gone = queued + timedelta(seconds=call.wait)
    if call.desk is None:
        return events + [_event(call_id, gone, "ended", None, call.queue, outcome="abandoned",
                                reason="caller_hangup")]
    agent = agents[call.desk]
    talk_end = gone + timedelta(seconds=call.talk)
    done = talk_end + timedelta(seconds=call.wrapup)
    return events + [
        _event(call_id, gone, "agent_state", agent, call.queue, state="on_call"),
        _event(call_id, gone, "connected", agent, call.queue),
        _event(call_id, talk_end, "ended", agent, call.queue, outcome="completed", reason="caller_hangup"),
        _event(call_id, talk_end, "agent_state", agent, call.queue, state="wrapup"),
        _event(call_id, done, "agent_state", agent, call.queue, state="available"),
    ]


def _event(call_id, ts: datetime, type_: str, agent_id, queue, **data) -> CallEvent:
    return CallEvent(call_id=call_id, ts=ts, type=type_, agent_id=agent_id, queue_name=queue, data=data)
