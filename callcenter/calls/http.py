"""HTTP views of calls: a call's record (`GET /api/calls/{id}`), the call of a channel, and the call controls
(hold, transfer, hang up, the survey after the call, dial): JSON in, JSON out, errors as {"error": ...} with
400/403/404/409.

Every route has a line in auth/permissions.py; on top of it, desk roles read and control the calls of their
own desk only (the controls: checked by CallControls, which knows whose call it is).
"""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Call as CallRow
from ..db.queries import add_audit_event, call_events
from ..web.guard import USER
from ..web.request import Reader, json_object, reader, require_call_visible, require_own_desk, services


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/calls", find_call, name="api_call_find")
    app.router.add_get("/api/calls/{call_id}", get_call, name="api_call")
    add = app.router.add_post
    add("/api/calls/{call_id}/hold", hold, name="api_call_hold")
    add("/api/calls/{call_id}/unhold", unhold, name="api_call_unhold")
    add("/api/calls/{call_id}/hangup", hangup, name="api_call_hangup")
    add("/api/calls/{call_id}/survey", survey, name="api_call_survey")
    add("/api/calls/{call_id}/transfer", transfer, name="api_call_transfer")
    add("/api/calls/{call_id}/transfer/complete", complete_transfer, name="api_call_transfer_complete")
    add("/api/calls/{call_id}/transfer/cancel", cancel_transfer, name="api_call_transfer_cancel")
    add("/api/agents/{number}/dial", dial, name="api_agent_dial")


# -- the call's record ---------------------------------------------------------------------------------------

async def get_call(request: web.Request) -> web.Response:
    """The call and its events (triage answers, red flags, override reasons: patient data). Desk roles read
    the calls that are or were on their own desk only; every read is audited with it."""
    s = services(request)
    found = await s.db.run(_call_with_events, request.match_info["call_id"], reader(request))
    if found is None:
        return _json_error(404, "no such call")
    live = s.router.find(found["id"])  # held / consulting are live states, not stored statuses
    found["state"] = live.state.name if live is not None and not live.ended.is_set() else found["status"]
    return web.json_response(found)


async def find_call(request: web.Request) -> web.Response:
    """`?channel=ID`: the call that a channel is (or was) the caller of, so a tool that placed a call
    (`callcenter simulate-call`) can name it by the call id. A channel id is Asterisk's, no patient data;
    the call id opens the call's record, so a desk role learns it for its own desk's calls only."""
    channel_id = request.query.get("channel", "")
    if not channel_id:
        return _json_error(400, "give the channel: /api/calls?channel=<channel id>")
    s = services(request)
    owner = s.router.find_by_channel(channel_id)  # a call, or a monitoring session's channel
    live = owner if owner is not None and s.router.find(owner.id) is owner else None
    if live is None:
        await s.events.flush()  # a call that just started: its row is in the writer's queue
    call_id = live.id if live is not None else await s.db.run(_call_id_for_channel, channel_id)
    if call_id is None:
        return _json_error(404, "no call on that channel")
    who = reader(request)
    if who.restricted:
        await s.events.flush()  # the offers and answers of a live call: in the writer's queue
        agent_ids = await s.db.run(_agent_ids_of, call_id)
        if live is not None and live.agent is not None:
            agent_ids.add(live.agent.id)  # ringing or talking at a desk: maybe not written yet
        require_call_visible(who, agent_ids)
    url = request.app.router["api_call"].url_for(call_id=call_id)
    return web.json_response({"id": call_id, "url": str(url)})


def _call_id_for_channel(session: Session, channel_id: str) -> str | None:
    return session.scalar(select(CallRow.id).where(CallRow.channel_id == channel_id)
                          .order_by(CallRow.started_at.desc()).limit(1))


def _agent_ids_of(session: Session, call_id: str) -> set[int | None]:
    """The agents a call was offered to, answered by or otherwise names (its row and its events)."""
    row = session.get(CallRow, call_id)
    return {e.agent_id for e in call_events(session, call_id)} | {row.agent_id if row is not None else None}


def _call_with_events(session: Session, call_id: str, who: Reader) -> dict | None:
    """The call as JSON with its events, audited in this transaction (403 when not `who`'s to see)."""
    row = session.get(CallRow, call_id)
    if row is None:
        return None
    events = call_events(session, call_id)
    require_call_visible(who, {e.agent_id for e in events} | {row.agent_id})
    add_audit_event(session, "call_view", call_id=call_id, actor=who.audit_actor())
    fields = ("id", "direction", "caller_status", "patient_id", "candidate_patient_ids", "language",
              "ivr_path", "queue_name", "status", "outcome", "agent_id", "end_reason")
    times = ("started_at", "queued_at", "offered_at", "answered_at", "ended_at")
    data = {f: getattr(row, f) for f in fields}
    data |= {t: getattr(row, t).isoformat() if getattr(row, t) else None for t in times}
    data["events"] = [{"type": e.type, "ts": e.ts.isoformat(), "agent_id": e.agent_id, "data": e.data}
                      for e in events]
    return data


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# -- call controls -------------------------------------------------------------------------------------------

async def hold(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.hold)


async def unhold(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.unhold)


async def hangup(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.hangup)


async def survey(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.survey)


async def complete_transfer(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.complete_transfer)


async def cancel_transfer(request: web.Request) -> web.Response:
    return await _run(request, services(request).controls.cancel_transfer)


async def transfer(request: web.Request) -> web.Response:
    body = await json_object(request)
    controls = services(request).controls

    async def transfer(call_id: str, user) -> str:
        return await controls.transfer(call_id, body, user)
    return await _run(request, transfer)


async def dial(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    require_own_desk(request)
    call_id = await services(request).controls.dial(number, await json_object(request))
    return web.json_response({"call_id": call_id, "state": "dialing_agent"}, status=201)


async def _run(request: web.Request, control) -> web.Response:
    call_id = request.match_info["call_id"]
    state = await control(call_id, request.get(USER))  # ControlError: web/middlewares.py answers
    return web.json_response({"call_id": call_id, "state": state})
