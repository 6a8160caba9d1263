"""The words the call core shares with everyone who watches calls: the names of call states and their groups,
and the types of the call event log. The wallboard, the screen pop, supervision and the KPIs import them
from here, so a new state or event is added in one place and their lists cannot disagree.

Pure data, no imports: anything may import it (the event log refuses a type that is not listed here).
"""
from __future__ import annotations

# -- call states (CallState.name) ---------------------------------------------------------------------------

ANSWERING, IVR, QUEUED, OFFERING = "answering", "ivr", "queued", "offering"
CONNECTED, HELD, CONSULTING, ENDED = "connected", "held", "consulting", "ended"
# The agent left; the caller goes on talking with the emergency service they conferenced (calls/emergency.py).
WITH_EMERGENCY = "with_emergency"
DIALING_AGENT, DIALING_PATIENT = "dialing_agent", "dialing_patient"  # click-to-dial
# The agent hung up; the caller answers the short survey after the call (issue 17, calls/state.py Surveying).
SURVEYING = "surveying"
# Campaign calls (automated: dialing -> awaiting_amd -> ivr | leaving_message; progressive: campaign_*).
CAMPAIGN_STATES = frozenset({"dialing", "awaiting_amd", "leaving_message", "campaign_dialing",
                             "campaign_detecting", "campaign_ringing_agent", "campaign_message"})

IN_IVR = frozenset({ANSWERING, IVR})
# An agent's phone rings for the call (or, click-to-dial, the agent waits for the patient to answer).
AGENT_RINGING = frozenset({OFFERING, DIALING_AGENT, DIALING_PATIENT, "campaign_ringing_agent"})
# An agent is on the call: talking, holding the caller, or consulting a colleague while the caller waits.
AGENT_ON_CALL = frozenset({CONNECTED, HELD, CONSULTING})
# "Calls in progress" on the wallboard: the call has an agent, ringing or on the call.
WITH_AGENT = AGENT_RINGING | AGENT_ON_CALL
# A supervisor may listen, whisper or barge: caller and agent talk in the call's bridge.
MONITORABLE = frozenset({CONNECTED})
# An urgent callback (issue 13): the patient's phone rings; answered, the call is queued like any caller.
DIALING_CALLBACK = "dialing_callback"
CALL_STATES = (frozenset({ANSWERING, IVR, QUEUED, WITH_EMERGENCY, SURVEYING, ENDED, DIALING_CALLBACK})
               | WITH_AGENT | CAMPAIGN_STATES)
# Every state but the last: the call is in progress, whatever it is doing.
LIVE = CALL_STATES - {ENDED}

# -- call event types (call_events.type) --------------------------------------------------------------------

CALL_LIFECYCLE_EVENTS = frozenset({
    "call_started", "answered", "caller_identified", "state", "queued", "requeued", "position_announced",
    "offered", "offer_failed", "connected", "ended", "fail_safe", "adopted", "rebuilt",
})
CALL_CONTROL_EVENTS = frozenset({
    "held", "unheld", "transferred", "transfer_started", "transfer_answered", "transfer_completed",
    "transfer_cancelled", "transfer_failed", "emergency_conference_dialed", "emergency_conference_joined",
    "emergency_conference_failed", "emergency_conference_left", "emergency_handover",
    "dialing_agent", "dialing_patient",
    # A ticket opened from the call (issue 17): its serial read out to the caller, and how the playback ended.
    "ticket_read_out", "ticket_read_out_finished",
})
IVR_EVENTS = frozenset({
    "ivr_node", "ivr_choice", "ivr_timeout", "ivr_invalid", "ivr_failure", "ivr_no_agent", "ivr_action",
    "ivr_action_unavailable", "ivr_say_missing",
    # Self-service (issue 17): a resolved ticket's summary played to the caller, how it ended, or why not.
    "ticket_summary_playing", "ticket_summary_played", "ticket_summary_unavailable",
})
AGENT_EVENTS = frozenset({"agent_state", "identity_confirmed", "disposition"})
RECORDING_EVENTS = frozenset({"recording_started", "recording_failed", "recording_saved", "recording_lost"})
MONITORING_EVENTS = frozenset({"monitoring_started", "monitoring_ended"})
TRIAGE_EVENTS = frozenset({
    "triage_started", "triage_age", "triage_question_shown", "triage_answered", "triage_disposition",
    "escalation_started", "escalation_performed", "escalation_overridden",
    # Owed on a call that ended: a task (an urgent callback) lets wrap-up finish; each callback try is noted.
    "escalation_task_created", "escalation_callback_attempt",
})
CAMPAIGN_EVENTS = frozenset({
    "campaign_dialed", "campaign_answered", "campaign_message_started", "campaign_message_played",
    "campaign_outcome", "campaign_callback_created", "campaign_attempt_ended",
})
# A follow-up questionnaire asked by phone (a flow's `followup` node): ids and question codes, never answers
# (those are in followup_answers, with the call id).
FOLLOWUP_EVENTS = frozenset({
    "followup_started", "followup_answered", "followup_unanswered", "followup_red_flag", "followup_finished",
})
# The survey after an inbound call (issue 17): asked for by the agent, started, ended (complete or not).
SURVEY_EVENTS = frozenset({"survey_requested", "survey_started", "survey_ended"})
EVENT_TYPES = (CALL_LIFECYCLE_EVENTS | CALL_CONTROL_EVENTS | IVR_EVENTS | AGENT_EVENTS | RECORDING_EVENTS
               | MONITORING_EVENTS | TRIAGE_EVENTS | CAMPAIGN_EVENTS | FOLLOWUP_EVENTS | SURVEY_EVENTS)

# -- webhook event types (webhooks/events.py maps call events and audit rows onto them) ----------------------

# What a hospital's systems may subscribe to. Named once here, like the call event types: the subscription
# form, the API's validation and the outbox mapping read this set.
WEBHOOK_EVENTS = frozenset({
    "call.started", "call.ended", "screen_pop", "disposition", "red_flag", "escalation", "campaign.attempt",
    "complaint.created", "complaint.resolved",
})
