"""The admin page of the HL7 inbound log (issue 15): every message received, newest first, filtered by
outcome, and "Apply again" for one that failed or was refused (after the sender or our configuration was
fixed, or once the patient it updates has been registered). Rows show ids, field names and outcomes, no
patient data; a re-apply is audited with the admin's id."""
from __future__ import annotations

from aiohttp import web

from ..db.models import INBOUND_OUTCOMES
from ..web.guard import USER
from ..web.request import SERVICES
from ..web.templating import redirect_with_notice, render_with_notice
from .services import REAPPLIABLE

FLASH = "hl7_notice"
PAGE_SIZE = 100


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/admin/hl7", log_page, name="admin_hl7")
    app.router.add_post("/admin/hl7/{id:\\d+}/reapply", reapply, name="admin_hl7_reapply")


async def log_page(request: web.Request) -> web.Response:
    hl7 = request.app[SERVICES].hl7
    outcome = request.query.get("outcome", "")
    outcome = outcome if outcome in INBOUND_OUTCOMES else ""
    before = request.query.get("before", "")
    rows = await hl7.log(outcome or None, int(before) if before.isdigit() else None, PAGE_SIZE)
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    context = dict(tab="hl7", rows=rows, outcome=outcome, outcomes=INBOUND_OUTCOMES, reappliable=REAPPLIABLE,
                   counts=await hl7.counts(), older=older)
    return await render_with_notice(request, "admin_hl7.html", FLASH, context)


async def reapply(request: web.Request) -> web.Response:
    message_id = int(request.match_info["id"])
    hl7 = request.app[SERVICES].hl7
    try:
        outcome = await hl7.reapply(message_id, request[USER].id)
        notice = f"Message {message_id}: {outcome.outcome} ({outcome.ack_code})" + (
            f", {outcome.problem}" if outcome.problem else "")
    except LookupError:
        raise web.HTTPNotFound(reason=f"no inbound message {message_id}") from None
    except ValueError as exc:
        notice = str(exc)
    back = request.app.router["admin_hl7"].url_for()
    form = await request.post()
    if form.get("outcome") in INBOUND_OUTCOMES:
        back = back.with_query(outcome=form["outcome"])
    await redirect_with_notice(request, FLASH, notice, back)
