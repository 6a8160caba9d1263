"""ARI events parsed once into typed objects: each kind, the dial outcome mapping, what we do not model."""
from __future__ import annotations

import pytest

from callcenter.ari.client import EVENT_TYPES
from callcenter.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Dial,
    DialOutcomes,
    PlaybackFinished,
    RecordingFailed,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)

from .fake_ari import channel_json


def test_given_stasis_start_json_when_parsed_then_channel_args_role_and_call_id():
    event = parse_event({"type": "StasisStart", "args": ["agent", "c" * 32], "channel": channel_json("leg-1"),
                         "replace_channel": {"id": "old"}})

    assert isinstance(event, StasisStart) and event.type == "StasisStart"
    assert (event.channel.id, event.channel_id) == ("leg-1", "leg-1")
    assert (event.role, event.call_id) == ("agent", "c" * 32)
    assert event.args == ("agent", "c" * 32) and event.replace_channel_id == "old"


@pytest.mark.parametrize("args", [[], ["inbound", "hotline"]])
def test_given_inbound_stasis_start_when_parsed_then_role_inbound_and_no_call_id(args):
    event = parse_event({"type": "StasisStart", "args": args, "channel": channel_json("c1")})

    assert (event.role, event.call_id) == ("inbound", "")


def test_given_channel_events_when_parsed_then_typed_with_their_fields():
    dtmf = parse_event({"type": "ChannelDtmfReceived", "digit": "5", "channel": channel_json("c1")})
    destroyed = parse_event({"type": "ChannelDestroyed", "cause": 17, "channel": {"id": "c2"}})
    end = parse_event({"type": "StasisEnd", "channel": channel_json("c3")})

    assert isinstance(dtmf, ChannelDtmfReceived) and (dtmf.channel_id, dtmf.digit) == ("c1", "5")
    assert isinstance(destroyed, ChannelDestroyed) and (destroyed.channel_id, destroyed.cause) == ("c2", 17)
    assert isinstance(end, StasisEnd) and end.channel.caller_number == "+14155550101"


@pytest.mark.parametrize(("dialstatus", "outcome"), [
    ("BUSY", "busy"), ("NOANSWER", "no_answer"), ("CHANUNAVAIL", "failed"), ("CONGESTION", "failed"),
    ("ANSWER", "answered"), ("", None), ("RINGING", None), ("PROGRESS", None),
])
def test_given_dial_event_when_parsed_then_peer_is_the_channel_and_status_maps_to_an_outcome(
        dialstatus, outcome):
    event = parse_event({"type": "Dial", "dialstatus": dialstatus, "peer": {"id": "agent-1"},
                         "caller": {"id": "someone-else"}})

    assert isinstance(event, Dial)
    assert (event.channel_id, event.outcome) == ("agent-1", outcome)


def test_given_dial_events_of_two_legs_when_noted_then_each_leg_keeps_its_unanswered_outcome():
    dials = DialOutcomes()
    for status, leg in [("", "a"), ("BUSY", "a"), ("RINGING", "b"), ("ANSWER", "b"), ("NOANSWER", "c")]:
        dials.note(parse_event({"type": "Dial", "dialstatus": status, "peer": {"id": leg}}))

    assert dials.outcome("a") == "busy" and dials.outcome("c") == "no_answer"
    assert dials.outcome("b") == "no_answer"  # answered is no ring result: the caller's default applies
    assert dials.outcome("b", None) is None and dials.outcome("never-dialed", "failed") == "failed"


def test_given_playback_and_recording_events_when_parsed_then_targets_are_split():
    playback = parse_event({"type": "PlaybackFinished",
                            "playback": {"id": "p1", "target_uri": "channel:c1", "state": "failed"}})
    recording = parse_event({"type": "RecordingFailed",
                             "recording": {"name": "call-1-2", "target_uri": "bridge:call-1"}})

    assert isinstance(playback, PlaybackFinished)
    assert (playback.playback_id, playback.channel_id, playback.state) == ("p1", "c1", "failed")
    assert isinstance(recording, RecordingFailed)
    assert (recording.name, recording.bridge_id, recording.channel_id) == ("call-1-2", "call-1", None)


def test_given_event_type_not_modelled_when_parsed_then_unknown_and_about_no_channel():
    event = parse_event({"type": "ChannelVarset", "channel": channel_json("c1")})

    assert isinstance(event, UnknownEvent) and event.type == "ChannelVarset" and event.channel_id is None


def test_given_malformed_channel_event_when_parsed_then_it_raises_for_the_client_to_drop():
    with pytest.raises(KeyError):
        parse_event({"type": "StasisEnd"})


def test_given_the_event_filter_when_read_then_every_allowed_type_has_a_parser():
    assert all(not isinstance(parse_event(_minimal(t)), UnknownEvent) for t in EVENT_TYPES)
    assert {"StasisStart", "StasisEnd", "ChannelDtmfReceived", "PlaybackFinished", "Dial"} <= set(EVENT_TYPES)


def _minimal(kind: str) -> dict:
    return {"type": kind, "channel": {"id": "c"}, "peer": {"id": "p"}, "playback": {"id": "x"},
            "recording": {"name": "r"}, "bridge": {"id": "b"}}


@pytest.mark.parametrize(("soft", "cause", "shutdown"), [(True, 4, True), (True, 5, True), (True, 1, False),
                                                         (False, 4, False), (None, 16, False)])
def test_given_hangup_request_when_parsed_then_an_asterisk_shutdown_is_told_from_a_persons_hangup(
        soft, cause, shutdown):
    data = {"type": "ChannelHangupRequest", "cause": cause, "channel": channel_json("c1")}
    if soft is not None:
        data["soft"] = soft

    event = parse_event(data)

    assert isinstance(event, ChannelHangupRequest) and event.cause == cause
    assert event.is_shutdown is shutdown
