"""The agent desk's set-up and a real call to it, shared by the browser tests of the desk and its panels
(triage, scripts, follow-up, call controls): desk 9001, a known patient, the hotline's results queue."""
from __future__ import annotations

import dataclasses
import json
import urllib.request
from datetime import date

from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.db.models import Allergy, AuditEvent, Patient, PatientPhone
from callcenter.simulate import place_call

from .live import API_TOKEN

DESK = "9001"
ENGLISH, RESULTS = "1", "2"  # the hotline's menu keys: language, then the test-results queue


def add_patient(live, mrn: str, phone: str, given: str = "Ada", family: str = "Lovelace") -> int:
    """A patient born 1960-12-10 with `phone` as primary mobile and a penicillin allergy."""
    with live.services.db.session() as session:
        patient = Patient(mrn=mrn, given_name=given, family_name=family, date_of_birth=date(1960, 12, 10),
                          sex="F", language="en")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164=phone, kind="mobile", is_primary=True))
        session.add(Allergy(patient_id=patient.id, substance="Penicillin", reaction="rash",
                            severity="moderate"))
        return patient.id


def open_desk(page: Page) -> None:
    """The desk page with its snapshot in: 'Logged out' is the page's first text, so it alone does not say
    the snapshot came; Pause is enabled only once the pause reasons have (agent.js), so a key pressed next
    is not lost or sent without its reason."""
    page.goto("/agent")
    expect(page.locator("#state-pill")).to_have_text("Logged out")
    expect(page.locator("#btn-pause")).to_be_enabled()


def prepare_desk_for_calls(live, phone_behaviour: str = "slow") -> None:
    """Desk 9001 answers the 'results' queue on a phone that rings ~6 s before answering ("slow") or at
    once ("auto")."""
    agent = live.services.queues.agent(DESK)
    agent.skills = frozenset({"general", "results"})
    agent.endpoint = f"Local/{phone_behaviour}-{DESK}@agent-phones/n"
    deps = live.services.router.deps
    # The slow phone answers at ~6 s.
    deps.settings = dataclasses.replace(deps.settings, agent_ring_timeout=20)


def go_available(page: Page) -> None:
    page.keyboard.press("a")
    expect(page.locator("#state-pill")).to_have_text("Available")


def hotline_call(live, phone: str):
    """A real caller from `phone` (E.164) through the hotline: English, then the results queue. The caller's
    channel (hung up after 120 s at the latest)."""
    return live.run(place_call(live.services.ari, live.services.cfg.telephony, caller=phone[2:],
                               digits=f"{ENGLISH},{RESULTS}", hangup_after=120, first_delay=1.5, digit_gap=1))


def call_reaches_desk(live, page: Page, phone: str, shows: str):
    """The open desk goes available and a real call from `phone` pops on it: `shows` (the identity check, a
    panel) is visible. The caller's channel."""
    go_available(page)
    caller = hotline_call(live, phone)
    expect(page.locator(shows)).to_be_visible(timeout=90_000)
    return caller


def answered_call(live, page: Page, phone: str, shows: str = "#triage"):
    """`call_reaches_desk`, then answered by the desk's phone: the desk says Connected."""
    caller = call_reaches_desk(live, page, phone, shows)
    expect(page.locator("#call-state")).to_have_text("Connected", timeout=30_000)
    return caller


def audits(live, action: str) -> list[AuditEvent]:
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def api(live, method: str, path: str, body: dict | None = None) -> dict:
    """The product's JSON API with the API token (as an integration, not as the signed-in agent)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json",
               "Accept": "application/json"}
    request = urllib.request.Request(live.url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def call_state(live, call_id: str) -> str:
    return api(live, "GET", f"/api/calls/{call_id}")["state"]


def bridges(live) -> list[dict]:
    return live.run(live.services.ari.request("GET", "/bridges"))


def bridged(live, *channel_ids: str) -> bool:
    """Is there an Asterisk bridge holding exactly these channels?"""
    return any(set(b["channels"]) == set(channel_ids) for b in bridges(live))


def live_call(live, call_id: str):
    return live.services.router.find(call_id)
