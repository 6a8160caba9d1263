"""How campaign calls dial the patient (campaigns/dialing/call.py): automated and progressive calls alike
ring for [telephony] campaign_ring_timeout, and name the role their AMD verdict comes back under (one
[campaign-amd] dialplan for both modes)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from callcenter.calls import state as states
from callcenter.campaigns.claims import DialJob
from callcenter.campaigns.dialing import automated, progressive, progressive_state
from callcenter.campaigns.dialing import call as campaign_call
from callcenter.campaigns.dialing import state as campaign_states
from callcenter.campaigns.schema import load_campaign_text
from callcenter.config import SiteConfig, TelephonyConfig
from callcenter.selfservice.actions import load_inbound_flow

from .conftest import campaign_yaml

PROJECT = Path(__file__).resolve().parents[2]


class FakeAri:
    app = "callcenter"

    def __init__(self):
        self.originated: list[dict] = []

    async def originate(self, endpoint: str, **kw) -> None:
        self.originated.append({"endpoint": endpoint, **kw})


def _deps(ari: FakeAri):
    settings = TelephonyConfig(outbound_ring_timeout=30, campaign_ring_timeout=17,
                               campaign_dial_template="Local/{number}@sim-campaign/n")
    return SimpleNamespace(settings=settings, ari=ari, bind=lambda channel_id, call: None)


def _job(mode: str, flows_dir: Path) -> DialJob:
    campaign = load_campaign_text(campaign_yaml(mode=mode), "test.yaml", flows_dir)
    return DialJob(attempt_id=1, target_id=2, campaign=campaign, patient_id=3, phone_e164="+14155550100",
                   language="en", subject_kind="appointment", subject_id=4, worker="t")


@pytest.mark.parametrize("mode", ["automated", "progressive"])
async def test_given_a_campaign_call_when_the_patient_is_dialed_then_campaign_ring_timeout_and_its_amd_role(
        mode, flows_dir):
    ari = FakeAri()
    flow = load_inbound_flow(PROJECT / "ivr_flows" / "hotline.yaml")
    job = _job(mode, flows_dir)
    if mode == "automated":
        flavour = automated.AutomatedDial(job, site=SiteConfig(), finish_attempt=None)
        call = campaign_call.new_call(_deps(ari), flow, flavour)
    else:
        agent = SimpleNamespace(id=7, number="1001")
        flavour = progressive.ProgressiveDial(job, finish_attempt=None, site=SiteConfig())
        call = progressive.new_call(_deps(ari), flow, flavour, agent, None)

    await flavour.dial.dial_patient(call)

    [dial] = ari.originated
    role = "campaign" if mode == "automated" else "progressive"
    assert dial["timeout"] == 17, "campaign_ring_timeout, not outbound_ring_timeout"
    assert dial["endpoint"] == "Local/+14155550100@sim-campaign/n"
    assert dial["app_args"] == f"{role},{call.id}"
    assert dial["variables"] == {"CAMPAIGN_CALL": call.id, "CAMPAIGN_APP": "callcenter",
                                 "CAMPAIGN_ROLE": f"{role}-amd"}
    assert flavour.dialed_facts(call)["mode"] == mode


def test_given_a_campaign_call_before_a_person_answered_when_a_handler_fails_then_the_attempt_fails(
        flows_dir):
    logged = []
    deps = SimpleNamespace(settings=TelephonyConfig(), ari=None, bind=lambda *a: None,
                           events=SimpleNamespace(event=lambda call_id, type_, **data: logged.append(type_)))
    flow = load_inbound_flow(PROJECT / "ivr_flows" / "hotline.yaml")
    dial = automated.AutomatedDial(_job("automated", flows_dir), site=SiteConfig(), finish_attempt=None)
    call = campaign_call.new_call(deps, flow, dial)

    for before in (campaign_states.Dialing, campaign_states.AwaitingAmd, campaign_states.LeavingMessage,
                   progressive_state.ProgressiveDialing, progressive_state.Detecting):
        ended = before(call).fail_safe()
        assert isinstance(ended, states.Ended) and (ended.outcome, ended.reason) == ("failed", "fail_safe")
        assert ended.hangup, "the patient's line is hung up"
    assert logged.count("fail_safe") == 5
