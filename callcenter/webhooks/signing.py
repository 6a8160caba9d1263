"""HMAC-SHA256 signatures of webhook deliveries (docs/webhooks.md shows a receiver).

Header `X-Callcenter-Signature: t=<unix seconds>,v1=<hex>`, where hex = HMAC-SHA256(secret, "<t>." + body).
Each attempt is signed when it is sent, so a receiver may refuse any timestamp older than its replay window
(REPLAY_WINDOW_SECONDS by default) and still accept retries hours later. The timestamp is inside the signed
text: a captured request replayed later with a fresh `t` does not verify.
"""
from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Callcenter-Signature"
REPLAY_WINDOW_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float,
           window: float = REPLAY_WINDOW_SECONDS) -> bool:
    """What a receiver does: the signature matches and its timestamp is within the window of now."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > window:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")
