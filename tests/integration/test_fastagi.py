"""Real calls through a hospital's own dialplan that asks the contact center over FastAGI (the context
`fastagi-example` of asterisk_conf/extensions.conf, the README's example): identify, then route into the
hotline with the choices made there. The FastAGI server is the one `callcenter serve` runs ([fastagi]
listen), on a free port per test, told to Asterisk as the GLOBAL variable CALLCENTER_FASTAGI."""
from __future__ import annotations

import dataclasses
import logging

import pytest
from sqlalchemy import select

from callcenter.db.models import Complaint, Patient, PatientPhone

from .harness import seeded_center

pytestmark = pytest.mark.asterisk

ALEJANDRO = "4155550118"  # demo patient: Spanish, VIP, chronic care (callcenter/demo.py)


def _through_the_hospital_dialplan(cfg) -> None:
    cfg.telephony = dataclasses.replace(cfg.telephony, hotline_context="fastagi-example")
    cfg.fastagi.listen = "127.0.0.1:0"


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    async with seeded_center(asterisk, database_url, tmp_path, _through_the_hospital_dialplan) as center:
        host, port = center.s.fastagi.address
        await center.ari.set_global_variable("CALLCENTER_FASTAGI", f"{host}:{port}")
        yield center


async def _open_complaint(center, phone: str) -> int:
    def add(session):
        patient_id = session.scalar(select(Patient.id).join(PatientPhone).where(PatientPhone.e164 == phone))
        session.add(Complaint(serial="C-FASTAGI-1", patient_id=patient_id, status="received"))
        return patient_id
    return await center.s.db.run(add)


async def _variables(center, channel_id: str, *names: str) -> dict[str, str]:
    values = {}
    for name in names:
        path = f"/channels/{channel_id}/variable"
        values[name] = (await center.ari.request("GET", path, params={"variable": name}))["value"]
    return values


async def test_given_a_known_patient_with_an_open_complaint_when_calling_then_routed_with_the_choices_made(
        center, caplog):
    caplog.set_level(logging.INFO, logger="callcenter.fastagi")
    patient_id = await _open_complaint(center, "+1" + ALEJANDRO)

    patient = await center.call(ALEJANDRO, "", hangup_after=60)  # presses nothing: the dialplan chose
    row = await center.call_row("queued", timeout=45)

    assert (row.queue_name, row.language, row.patient_id) == ("complaints", "es", patient_id)
    assert row.ivr_path == [
        {"node": "language", "key": "2", "label": "Español", "preset": True},
        {"node": "main", "key": "5", "label": "Complaints", "preset": True},
    ]
    identified = {"CALLCENTER_PATIENTS": "1", "CALLCENTER_LANGUAGE": "es", "CALLCENTER_VIP": "1",
                  "CALLCENTER_CHRONIC": "1", "CALLCENTER_OPEN_COMPLAINT": "1", "CALLCENTER_AGI_STATUS": "OK"}
    assert await _variables(center, row.channel_id, *identified) == identified
    events = [e.type for e in await center.events(row.id)]
    assert "ivr_timeout" not in events and "ivr_invalid" not in events
    assert ("fastagi_identify", patient_id) in [(a.action, a.patient_id) for a in await center.audits()]

    # The caller hangs up while waiting: the call ends, and so does the route's AGI connection.
    await center.ari.hangup(patient)
    row = await center.call_row("ended", timeout=30)
    assert row.end_reason == "caller_hangup"
    await center.wait_for(lambda: _logged(caplog, "the channel hung up"), 20, "the route's connection to end")
    assert await center.only_call() is not None, "a call that ended is not sent to the hotline again"
    async with center.http.get(f"{center.base_url}/api/metrics", headers=center.headers) as resp:
        metrics = await resp.text()
    assert 'callcenter_fastagi_requests_total{outcome="ok",script="identify"} 1.0' in metrics
    assert 'callcenter_fastagi_requests_total{outcome="hung_up",script="route"} 1.0' in metrics
    assert ALEJANDRO[-4:] not in caplog.text


async def test_given_fastagi_refuses_the_request_when_calling_then_the_dialplan_is_told_why_and_uses_hotline(
        center):
    host, port = center.s.fastagi.address
    await center.ari.set_global_variable("CALLCENTER_FASTAGI", f"{host}:{port}/typo")  # agi://.../typo/identify

    await center.call(ALEJANDRO, "1,2", hangup_after=30)  # the hotline asks: English, test results
    row = await center.call_row("queued", timeout=45)

    assert row.queue_name == "results"
    assert [(c["node"], c["key"], c.get("preset")) for c in row.ivr_path] == [("language", "1", None),
                                                                              ("main", "2", None)]
    told = await _variables(center, row.channel_id, "CALLCENTER_AGI_STATUS", "CALLCENTER_AGI_ERROR")
    assert told == {"CALLCENTER_AGI_STATUS": "FAILED",
                    "CALLCENTER_AGI_ERROR": "unknown script 'typo/identify': this server has identify, route"}


async def _logged(caplog, text: str) -> bool:
    return text in caplog.text
