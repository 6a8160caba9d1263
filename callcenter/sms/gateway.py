"""SMS gateways behind one interface: `send(http, text)` hands one text over, or raises GatewayError.

- `KannelGateway`: Kannel's smsbox sendsms interface, as a POST whose X-Kannel-* headers carry the
  sendsms-user, the numbers and the delivery-report request, and whose body is the text, so no number
  and no text is ever in a URL. Kannel asks `report_url` (its dlr-url, with %d for the status) for every
  delivery report; incoming texts come through its sms-service's post-url (http.py).
- `HttpProviderGateway`: a provider's HTTP API: the text POSTed as JSON with a bearer token, the provider
  calling `report_url` back with `status` (a word of PROVIDER_STATUSES: delivered, failed...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import aiohttp

from .exceptions import GatewayError
from .templates import GSM_BASIC, GSM_EXTENSION

# Kannel's DLR types: 1 delivered, 2 failed, 4 buffered, 8 taken by the SMSC, 16 refused by the SMSC.
DLR_MASK = 31
# A provider's status words as Kannel's DLR types, so both report through the same callback.
PROVIDER_STATUSES = {"delivered": 1, "failed": 2, "undelivered": 2, "buffered": 4, "queued": 4, "sent": 8,
                     "accepted": 8, "rejected": 16}
# Answers of a sendsms that mean "this text will never go" (a bad number, no text): not retried.
PERMANENT = (400,)


@dataclass(frozen=True)
class OutgoingText:
    id: int
    to: str            # E.164
    body: str
    report_url: str    # where delivery reports of this text go (its id and key in it, no patient data)


class SmsGateway(Protocol):
    async def send(self, http: aiohttp.ClientSession, text: OutgoingText) -> None:
        """Hand the text over; GatewayError (with `retry`) when the gateway did not take it."""


class KannelGateway:
    def __init__(self, url: str, username: str, password: str, sender: str):
        self.url, self.username, self.password, self.sender = url, username, password, sender

    async def send(self, http: aiohttp.ClientSession, text: OutgoingText) -> None:
        headers = {"Content-Type": "text/plain; charset=UTF-8", "X-Kannel-Username": self.username,
                   "X-Kannel-Password": self.password, "X-Kannel-To": text.to,
                   "X-Kannel-Coding": "0" if is_gsm(text.body) else "2",
                   "X-Kannel-DLR-Mask": str(DLR_MASK), "X-Kannel-DLR-Url": text.report_url + "&status=%d"}
        if self.sender:
            headers["X-Kannel-From"] = self.sender
        await _post(http, self.url, text.body.encode(), headers)


class HttpProviderGateway:
    """A provider's REST API (one small class: the JSON most providers take; adapt the body to yours)."""

    def __init__(self, url: str, token: str, sender: str):
        self.url, self.token, self.sender = url, token, sender

    async def send(self, http: aiohttp.ClientSession, text: OutgoingText) -> None:
        body = aiohttp.JsonPayload({"from": self.sender, "to": text.to, "text": text.body,
                                    "reference": str(text.id), "status_callback": text.report_url})
        await _post(http, self.url, body, {"Authorization": f"Bearer {self.token}"})


async def _post(http: aiohttp.ClientSession, url: str, body, headers: dict[str, str]) -> None:
    try:
        async with http.post(url, data=body, headers=headers, allow_redirects=False) as response:
            answer = (await response.text(errors="replace"))[:120].strip()
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise GatewayError(f"{type(exc).__name__}: {exc}"[:200]) from None
    if not 200 <= status < 300:
        # The gateway's own words (Kannel: "Missing receiver number"): no patient data.
        raise GatewayError(f"HTTP {status}: {answer}"[:200], retry=status not in PERMANENT)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def build(settings) -> SmsGateway:
    """The gateway [sms] names (config.SmsConfig)."""
    if settings.gateway == "http":
        return HttpProviderGateway(settings.provider_url, settings.provider_token, settings.sender)
    return KannelGateway(settings.kannel_url, settings.kannel_username, settings.kannel_password,
                         settings.sender)
