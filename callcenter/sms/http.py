"""The SMS gateway's callbacks (not under /api/: the gateway is no API client and holds no session):

- POST /sms/gateway/inbound?key=K: an incoming text, as Kannel's sms-service `post-url` sends it (the text
  as the body, the sender in X-Kannel-From; `send-sender = true`), so no number and no text is in a URL.
  Answered 200 with an empty body (the service's `max-messages = 0`: our answer goes through the outbox).
- GET /sms/gateway/report?id=N&key=K&status=%d: a delivery report, Kannel's dlr-url (or a provider's
  callback with a status word). The key is the text's own (an HMAC of its id), so a report URL is good for
  that text only.

Both refuse a wrong key with 403, and answer 404 while no key is configured ([sms] callback_key: the
callbacks are off). The access log leaves query strings out.
"""
from __future__ import annotations

from aiohttp import web

from ..web.request import services
from .gateway import PROVIDER_STATUSES

PLAIN = "text/plain"


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/sms/gateway/inbound", inbound, name="sms_gateway_inbound")
    app.router.add_get("/sms/gateway/report", report, name="sms_gateway_report")


OFF = "SMS gateway callbacks are off: no [sms] callback_key"


async def inbound(request: web.Request) -> web.Response:
    sms = services(request).sms
    if not sms.callbacks_on:
        return web.Response(status=404, text=OFF, content_type=PLAIN)
    if not sms.gateway_key_ok(request.query.get("key", "")):
        return web.Response(status=403, text="wrong key", content_type=PLAIN)
    sender = request.headers.get("X-Kannel-From", "")
    if not sender:
        return web.Response(status=400, text="no X-Kannel-From (set send-sender = true)", content_type=PLAIN)
    await sms.receive(sender, await request.text())
    return web.Response(status=200, text="", content_type=PLAIN)


async def report(request: web.Request) -> web.Response:
    sms = services(request).sms
    if not sms.callbacks_on:
        return web.Response(status=404, text=OFF, content_type=PLAIN)
    text_id, status = request.query.get("id", ""), request.query.get("status", "")
    if not text_id.isdigit() or not sms.report_key_ok(int(text_id), request.query.get("key", "")):
        return web.Response(status=403, text="wrong key", content_type=PLAIN)
    code = int(status) if status.isdigit() else PROVIDER_STATUSES.get(status.lower())
    if code is None:
        return web.Response(status=400, text="status: Kannel's %d or a word (delivered, failed...)",
                            content_type=PLAIN)
    known = await sms.delivery_report(int(text_id), code, request.query.get("detail"))
    return web.Response(status=200 if known else 404, text="ok" if known else "no such text",
                        content_type=PLAIN)
