"""A progressive campaign's own call script is the one its agent sees (not its queue's), on a real call:
the desk's triage panel state names it, and it renders for the dialed patient without [missing] markers.
(Patients' phones and the campaign text: test_campaign_dialing and test_campaign_progressive.)"""
from __future__ import annotations

import asyncio

import pytest

from callcenter.campaigns.dialing.progressive import ProgressiveDialer
from callcenter.campaigns.services import CampaignService

from .test_campaign_dialing import START, RunningClock, add_patients
from .test_campaign_progressive import progressive_text

pytestmark = pytest.mark.asterisk
DESK = "1001"   # alice: skill 'appointments', whose queue's own script is 'scheduling'


async def test_given_a_progressive_campaign_with_its_own_script_when_its_call_pops_then_the_desk_gets_it(
        campaign_center):
    center, clock = campaign_center, RunningClock(START)
    s = center.s
    campaigns = CampaignService(s.db, s.events, s.cfg, clock=clock)
    text = progressive_text("prog-script").replace("script: scheduling", "script: chronic_check")
    await campaigns.save_text("prog-script", text, None)
    await add_patients(center, ["person"], first=851)
    await campaigns.plan("prog-script")
    dialer = ProgressiveDialer(campaigns, s.queues, s.router, s.db, s.flows["hotline"], s.cfg.site,
                               clock=clock)
    s.queues.state_listeners.append(dialer.agent_state_changed)
    ws = await center.agent_socket(DESK)
    await center.set_agent(DESK, "available")
    run = asyncio.create_task(dialer.run("prog-script", worker="t-script", agent_wait=3))
    pop = None
    while pop is None:
        message = await ws.receive_json(timeout=40)
        pop = message if message["type"] == "screen_pop" else None

    async with center.http.get(f"{center.base_url}/api/agents/{DESK}/triage", headers=center.headers) as resp:
        state = await resp.json()
    site = s.cfg.site  # what the script view gives a call (it is for signed-in desks, not the API token)
    fields = {"id": pop["call_id"], "part_of_day": "morning", "hospital_name": site.hospital_name,
              "callback_number": site.callback_number}
    steps = await s.triage.script(state["script"], call=fields, agent={"first_name": "Alice"},
                                  patient_id=pop["patients"][0]["id"])

    assert pop["script"] == state["script"] == "chronic_check"
    assert s.triage.script_for("appointments") == "scheduling", "not the queue's script"
    assert [step.missing for step in steps if step.missing] == []
    await center.ari.hangup(s.router.find(pop["call_id"]).channel.id)  # the patient hangs up
    await asyncio.wait_for(run, 60)
    await ws.close()
