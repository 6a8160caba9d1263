"""Webhooks in the admin console (/admin/webhooks: server-rendered forms, like the other admin pages) and in
the JSON API (/api/webhooks: admins and the API token). Refusals are WebhookErrors: a form shows its message
next to the field at fault, the API answers {"error": ...} through errors_middleware.

The secret is in the answer that created (or replaced) it and nowhere after: a page, not a redirect, so it
never passes through the session cookie.
"""
from __future__ import annotations

import json

from aiohttp import web
from multidict import MultiDictProxy

from ..errors import BadRequestBody
from ..vocabulary import WEBHOOK_EVENTS
from ..web.request import audit_actor, json_object, services
from ..web.templating import form_text, redirect_with_notice, render_with_notice
from .events import SCOPES
from .exceptions import NotFound, WebhookError
from .services import SubscriptionForm, WebhookService
from .store import DEAD, DELIVERED, PENDING

FLASH = "webhooks_notice"
STATUSES = (PENDING, DELIVERED, DEAD)
EXAMPLE = '{"name": "his", "url": "https://his.example.org/hook", "events": ["call.ended"]}'


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/webhooks", page, name="admin_webhooks")
    r.add_post("/admin/webhooks", create, name="admin_webhook_create")
    r.add_get(r"/admin/webhooks/{sub:\d+}", subscription_page, name="admin_webhook")
    r.add_post(r"/admin/webhooks/{sub:\d+}", update, name="admin_webhook_update")
    r.add_post(r"/admin/webhooks/{sub:\d+}/delete", delete, name="admin_webhook_delete")
    r.add_get(r"/admin/webhooks/deliveries/{delivery:\d+}", delivery_page, name="admin_webhook_delivery")
    r.add_post(r"/admin/webhooks/deliveries/{delivery:\d+}/resend", resend, name="admin_webhook_resend")
    r.add_get("/api/webhooks", api_list, name="api_webhooks")
    r.add_post("/api/webhooks", api_create, name="api_webhook_create")
    r.add_get(r"/api/webhooks/{sub:\d+}", api_get, name="api_webhook")
    r.add_put(r"/api/webhooks/{sub:\d+}", api_update, name="api_webhook_update")
    r.add_delete(r"/api/webhooks/{sub:\d+}", api_delete, name="api_webhook_delete")
    r.add_get("/api/webhooks/deliveries", api_deliveries, name="api_webhook_deliveries")
    r.add_get(r"/api/webhooks/deliveries/{delivery:\d+}", api_delivery, name="api_webhook_delivery")
    r.add_post(r"/api/webhooks/deliveries/{delivery:\d+}/resend", api_resend, name="api_webhook_resend")


def _hooks(request: web.Request) -> WebhookService:
    return services(request).webhooks


def _id(request: web.Request, key: str) -> int:
    return int(request.match_info[key])


# -- console ------------------------------------------------------------------------------------------------


async def page(request: web.Request, form: SubscriptionForm | None = None, error: WebhookError | None = None,
               status: int = 200, created: dict | None = None) -> web.Response:
    shown = request.query.get("status", "")
    deliveries = await _hooks(request).deliveries(status=shown if shown in STATUSES else None)
    return await _page(request, "admin_webhooks.html", status=status, form=form or SubscriptionForm(),
                       error=error, created=created, subscriptions=await _hooks(request).subscriptions(),
                       deliveries=deliveries, shown=shown)


async def create(request: web.Request) -> web.Response:
    form = _form(await request.post())
    try:
        created = await _hooks(request).create(form, audit_actor(request))
    except WebhookError as exc:
        return await page(request, form, exc, exc.status)
    return await page(request, created=created, status=201)


async def subscription_page(request: web.Request, form: SubscriptionForm | None = None,
                            error: WebhookError | None = None, status: int = 200,
                            changed: dict | None = None) -> web.Response:
    sub_id = _id(request, "sub")
    sub = await _found(_hooks(request).subscription(sub_id))
    form = form or SubscriptionForm(sub["name"], sub["url"], sub["events"], sub["scopes"], "", sub["active"])
    return await _page(request, "admin_webhook.html", status=status, sub=sub, form=form, error=error,
                       changed=changed, deliveries=await _hooks(request).deliveries(subscription_id=sub_id))


async def update(request: web.Request) -> web.Response:
    form = _form(await request.post())
    try:
        changed = await _hooks(request).update(_id(request, "sub"), form, audit_actor(request))
    except NotFound as exc:
        raise web.HTTPNotFound(reason=str(exc)) from None
    except WebhookError as exc:
        return await subscription_page(request, form, exc, exc.status)
    if form.secret:  # the new secret is shown once, on this page
        return await subscription_page(request, changed=changed)
    await redirect_with_notice(request, FLASH, f"Subscription {changed['name']} saved.",
                               request.app.router["admin_webhook"].url_for(sub=str(changed["id"])))


async def delete(request: web.Request) -> web.Response:
    await _found(_hooks(request).delete(_id(request, "sub"), audit_actor(request)))
    await redirect_with_notice(request, FLASH, "Subscription deleted, with its deliveries.",
                               request.app.router["admin_webhooks"].url_for())


async def delivery_page(request: web.Request) -> web.Response:
    delivery = await _found(_hooks(request).delivery(_id(request, "delivery")))
    sub = await _found(_hooks(request).subscription(delivery["subscription_id"]))
    # Sent compact (the signature is over those bytes); shown indented.
    pretty = json.dumps(json.loads(delivery["body"]), indent=2, sort_keys=True)
    return await _page(request, "admin_webhook_delivery.html", delivery=delivery, sub=sub, pretty=pretty)


async def resend(request: web.Request) -> web.Response:
    delivery_id = _id(request, "delivery")
    await _found(_hooks(request).resend(delivery_id, audit_actor(request)))
    await redirect_with_notice(request, FLASH, f"Delivery {delivery_id} will be sent again now.",
                               request.app.router["admin_webhook_delivery"].url_for(delivery=str(delivery_id)))


def _form(data: MultiDictProxy) -> SubscriptionForm:
    return SubscriptionForm(form_text(data, "name"), form_text(data, "url"), data.getall("events", []),
                            data.getall("scopes", []), form_text(data, "secret"), data.get("active") == "on")


async def _page(request: web.Request, template: str, *, status: int = 200, **context) -> web.Response:
    context |= {"tab": "webhooks", "event_types": sorted(WEBHOOK_EVENTS), "scopes": SCOPES,
                "statuses": STATUSES}
    return await render_with_notice(request, template, FLASH, context, status=status)


async def _found(awaitable):
    try:
        return await awaitable
    except NotFound as exc:
        raise web.HTTPNotFound(reason=str(exc)) from None


# -- JSON API -----------------------------------------------------------------------------------------------


async def api_list(request: web.Request) -> web.Response:
    return web.json_response({"subscriptions": await _hooks(request).subscriptions()})


async def api_create(request: web.Request) -> web.Response:
    form = _api_form(await json_object(request, EXAMPLE))
    created = await _hooks(request).create(form, audit_actor(request))
    return web.json_response(created, status=201)


async def api_get(request: web.Request) -> web.Response:
    return web.json_response(await _hooks(request).subscription(_id(request, "sub")))


async def api_update(request: web.Request) -> web.Response:
    form = _api_form(await json_object(request, EXAMPLE))
    return web.json_response(await _hooks(request).update(_id(request, "sub"), form, audit_actor(request)))


async def api_delete(request: web.Request) -> web.Response:
    await _hooks(request).delete(_id(request, "sub"), audit_actor(request))
    return web.json_response({"deleted": _id(request, "sub")})


async def api_deliveries(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequestBody(f"status is one of {', '.join(STATUSES)}")
    sub = q.get("subscription", "")
    sub_id = int(sub) if sub.isdigit() else None
    found = await _hooks(request).deliveries(status=status, subscription_id=sub_id)
    return web.json_response({"deliveries": found})


async def api_delivery(request: web.Request) -> web.Response:
    return web.json_response(await _hooks(request).delivery(_id(request, "delivery")))


async def api_resend(request: web.Request) -> web.Response:
    return web.json_response(await _hooks(request).resend(_id(request, "delivery"), audit_actor(request)))


def _api_form(body: dict) -> SubscriptionForm:
    events, scopes = body.get("events", []), body.get("scopes", [])
    texts = [body.get(k, "") for k in ("name", "url", "secret")]
    lists_of_text = all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in (events, scopes))
    if not all(isinstance(v, str) for v in texts) or not lists_of_text:
        raise BadRequestBody("name, url and secret are strings; events and scopes lists: " + EXAMPLE)
    return SubscriptionForm(*texts[:2], events, scopes, texts[2], bool(body.get("active", True)))
