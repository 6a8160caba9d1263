"""Which logged rows become webhook events and what they carry (pure), and the signature a receiver checks."""
from __future__ import annotations

from datetime import UTC, datetime

from callcenter.vocabulary import WEBHOOK_EVENTS
from callcenter.webhooks.events import (
    CALL_EVENT_SPECS,
    COMPLAINT_EVENTS,
    from_call_event,
    payload,
    screen_pop,
)
from callcenter.webhooks.signing import signature, verify

TS = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def call_event(type_: str, **data) -> dict:
    return dict(call_id="c1", ts=TS, type=type_, agent_id=4, queue_name="nurse", data=data)


def test_given_the_vocabulary_when_mapped_then_every_webhook_event_has_a_source():
    sources = {spec.type for spec in CALL_EVENT_SPECS.values()} | {"screen_pop"} | set(COMPLAINT_EVENTS)
    assert sources == WEBHOOK_EVENTS


def test_given_a_triage_result_without_red_flag_when_mapped_then_no_event():
    assert from_call_event(call_event("triage_disposition", disposition="self_care",
                                      escalation_required=False)) is None


def test_given_a_red_flag_when_mapped_then_ids_for_all_and_the_protocol_only_under_clinical():
    event = from_call_event(call_event("triage_disposition", protocol="chest_pain", version="1.0",
                                       disposition="emergency_now", action="call_112", rank=1,
                                       escalation_required=True, user_id=9, decided_by="q1"))

    assert event.type == "red_flag"
    assert event.data == {"call_id": "c1", "agent_id": 4, "queue": "nurse", "user_id": 9}
    assert event.clinical == {"protocol": "chest_pain", "version": "1.0", "disposition": "emergency_now",
                              "action": "call_112", "rank": 1}


def test_given_an_override_when_mapped_then_an_escalation_event_whose_reason_is_clinical():
    event = from_call_event(call_event("escalation_overridden", disposition="nurse_now",
                                       reason="patient already at the ED", user_id=3, role="nurse"))

    assert (event.type, event.data["stage"]) == ("escalation", "overridden")
    assert "reason" not in event.data and event.clinical["reason"] == "patient already at the ED"


def test_given_a_campaign_attempt_when_mapped_then_its_outcome_is_clinical():
    event = from_call_event(call_event("campaign_attempt_ended", campaign="discharge", target_id=5,
                                       attempt_id=6, result="person", amd_status="HUMAN", outcome="red_flag"))

    assert event.type == "campaign.attempt"
    assert event.data["attempt_id"] == 6 and event.data["result"] == "person"
    assert event.clinical == {"outcome": "red_flag"}


def test_given_a_pop_with_two_candidates_when_mapped_then_one_event_with_their_ids_only():
    event = screen_pop("c1", 4, [12, 15])

    assert event.type == "screen_pop" and event.clinical == {}
    assert event.data == {"call_id": "c1", "agent_id": 4, "patient_ids": [12, 15], "candidates": 2}


def test_given_a_subscription_without_scope_when_the_payload_is_built_then_no_clinical_key():
    plain = payload("e1", "disposition", TS.isoformat(), {"call_id": "c1"}, {"code": "x"}, [])
    granted = payload("e1", "disposition", TS.isoformat(), {"call_id": "c1"}, {"code": "x"}, ["clinical"])

    assert plain["data"] == {"call_id": "c1"}
    assert granted["data"] == {"call_id": "c1", "clinical": {"code": "x"}}


def test_given_a_signed_body_when_verified_then_only_the_same_secret_body_and_a_recent_time_pass():
    body = b'{"id":"e1"}'
    header = signature("secret-one-123456", 1_800_000_000, body)

    assert verify("secret-one-123456", header, body, now=1_800_000_010)
    assert not verify("secret-two-123456", header, body, now=1_800_000_010)
    assert not verify("secret-one-123456", header, body + b" ", now=1_800_000_010)
    assert not verify("secret-one-123456", header, body, now=1_800_000_000 + 301)  # replayed later
    forged_time = header.replace("t=1800000000", "t=1800000300")
    assert not verify("secret-one-123456", forged_time, body, now=1_800_000_300)
    assert not verify("secret-one-123456", "garbage", body, now=1_800_000_000)
