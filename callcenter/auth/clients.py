"""API clients: named, scoped, revocable machine clients of /api/* (issue 14).

`callcenter api-client add NAME --scope SCOPE ...` creates one and prints its secret once; the client sends
it as `Authorization: Bearer <secret>`. What a scope allows is the permission table's business
(permissions.SCOPES: each scope is the pseudo-role "api:<scope>" on the routes it opens). `revoke` takes
effect at the next request: every request looks its client up. A revoked client keeps its row, so the
audit rows that name it (audit_events.actor_client_id) keep meaning something.

Only the SHA-256 of a secret is stored. Passwords get argon2 because people choose guessable ones and the slow
hash is what stands between a stolen table and a dictionary; a secret here is 32 random bytes, which no
dictionary holds and no amount of hashing power enumerates, so a fast hash is just as safe and spares every
API request argon2's 64 MiB and tens of milliseconds (and spares the server being worn down by made-up
tokens). No key either: a key would live in the configuration, and rotating it would void every client.
Looking the digest up by index leaks nothing usable: an attacker controls the digest, not the secret.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import ApiClient as ApiClientRow
from ..db.models import AuditEvent
from ..db.types import utcnow
from .exceptions import DuplicateApiClient, InvalidApiClient, UnknownApiClient
from .permissions import SCOPES, client_allowed

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SECRET_BYTES = 32


@dataclass(frozen=True)
class ApiClient:
    """The active client behind one request."""

    id: int
    name: str
    scopes: frozenset[str]

    def may_use(self, route_name: str | None) -> bool:
        return client_allowed(route_name, self.scopes)


@dataclass(frozen=True)
class ApiClientInfo:
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- administration: synchronous, one Session (the CLI) ---------------------------------------------------


def add_client(session: Session, name: str, scopes: Iterable[str],
               secret: str | None = None) -> tuple[ApiClientInfo, str]:
    """A new client and its secret (shown once, never stored). `secret`: one chosen by the caller (the test
    harness); otherwise 32 random bytes."""
    name, scopes = name.strip().lower(), sorted(set(scopes))
    if not NAME.match(name):
        raise InvalidApiClient("a client name is 1-64 characters: lower-case letters, digits, '.', '_', '-'")
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InvalidApiClient(f"unknown scope {', '.join(unknown)!r}: choose from {', '.join(SCOPES)}"
                               if unknown else "give the client at least one --scope")
    if session.scalar(select(ApiClientRow).where(ApiClientRow.name == name)) is not None:
        raise DuplicateApiClient(f"an API client named {name!r} exists (a revoked one keeps its name for "
                                 "the audit log): choose another name")
    secret = secret or secrets.token_urlsafe(SECRET_BYTES)
    row = ApiClientRow(name=name, secret_sha256=digest(secret), scopes=scopes, created_at=utcnow())
    session.add(row)
    session.flush()
    _audit(session, "api_client_added", row, {"name": name, "scopes": scopes})
    return _info(row), secret


def list_clients(session: Session) -> list[ApiClientInfo]:
    return [_info(row) for row in session.scalars(select(ApiClientRow).order_by(ApiClientRow.name))]


def revoke_client(session: Session, name: str) -> ApiClientInfo:
    """Revoke the client now; revoking a revoked one changes nothing."""
    row = session.scalar(select(ApiClientRow).where(ApiClientRow.name == name.strip().lower()))
    if row is None:
        raise UnknownApiClient(f"no API client named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _audit(session, "api_client_revoked", row, {"name": row.name})
    return _info(row)


# The command-line tools of this machine (agent, campaign run, simulate-call) present [http] api_token, which
# `callcenter setup` writes into the secrets file; `setup` and `serve` register it as this client, once.
CLI_CLIENT = "cli"
CLI_SCOPES = ("calls", "desk", "campaigns")
MIN_CONFIGURED_SECRET = 32


def ensure_cli_client(session: Session, secret: str) -> str:
    """Register the configured secret as the client "cli" unless a client has it already or "cli" exists (a
    revoked one stays revoked). Says what it did, or why the tools will be refused."""
    if not secret:
        return "[http] api_token is empty: the command-line tools have no API client"
    known = session.scalar(select(ApiClientRow).where(ApiClientRow.secret_sha256 == digest(secret)))
    if known is not None:
        return f"[http] api_token is API client {known.name!r}" + (" (revoked)" if known.revoked_at else "")
    if len(secret) < MIN_CONFIGURED_SECRET:
        return (f"[http] api_token is shorter than {MIN_CONFIGURED_SECRET} characters and matches no API "
                "client: not registered; create one with `callcenter api-client add`")
    if session.scalar(select(ApiClientRow).where(ApiClientRow.name == CLI_CLIENT)) is not None:
        return (f"[http] api_token matches no API client (and {CLI_CLIENT!r} exists): the command-line tools "
                "will be refused; put a client's secret there")
    add_client(session, CLI_CLIENT, CLI_SCOPES, secret=secret)
    return f"[http] api_token registered as API client {CLI_CLIENT!r} ({', '.join(CLI_SCOPES)})"


def _info(row: ApiClientRow) -> ApiClientInfo:
    return ApiClientInfo(row.name, tuple(row.scopes), row.created_at, row.revoked_at)


def _audit(session: Session, action: str, row: ApiClientRow, detail: dict) -> None:
    session.add(AuditEvent(ts=utcnow(), action=action, actor_client_id=row.id, detail=detail))


# -- per request ------------------------------------------------------------------------------------------


@dataclass
class ApiClients:
    """Who is behind a Bearer secret or a websocket ticket: read from the database on every request, so a
    revocation (by the CLI, another process) acts at once."""

    db: Database

    async def authenticate(self, secret: str) -> ApiClient | None:
        if not secret:
            return None
        return await self.db.run(_active, ApiClientRow.secret_sha256 == digest(secret))

    async def active(self, client_id: int) -> ApiClient | None:
        return await self.db.run(_active, ApiClientRow.id == client_id)

    async def active_ids(self, client_ids: set[int]) -> set[int]:
        """The ids not revoked among `client_ids` (open websockets are re-checked in one query)."""
        return await self.db.run(_active_ids, client_ids)


def _active_ids(session: Session, client_ids: set[int]) -> set[int]:
    return set(session.scalars(select(ApiClientRow.id).where(ApiClientRow.id.in_(client_ids),
                                                             ApiClientRow.revoked_at.is_(None))))


def _active(session: Session, where) -> ApiClient | None:
    row = session.scalar(select(ApiClientRow).where(where, ApiClientRow.revoked_at.is_(None)))
    return None if row is None else ApiClient(row.id, row.name, frozenset(row.scopes))
