"""Users, passwords and sign-in with lock-out.

Passwords are hashed with argon2id (argon2-cffi); a hash made with older parameters is replaced at the next
successful sign-in. Guessing is slowed by throttle.py (per address and username, per address, overall),
never by locking an account: that would let anyone lock a named user out. The users table counts failures
within LockoutPolicy.window (the admin's view). Every sign-in and failure is an `audit_events` row written in
the same transaction as the counters. Passwords are never logged or
audited.

The functions taking a `Session` are plain synchronous SQLAlchemy (used by the CLI, and by UserService
through Database.run); argon2 runs outside the database threads, in the loop's default executor.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Config, secure_cookies
from ..db.database import Database
from ..db.models import USER_ROLES, Agent, AuditEvent, User
from ..db.types import utcnow
from .clients import ApiClients
from .exceptions import DuplicateUser, InvalidUserField, SignInFailed, UnknownUser, WeakPassword
from .sockets import SessionSockets
from .throttle import SignInThrottle
from .tickets import WsTickets

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class LockoutPolicy:
    window: timedelta = timedelta(minutes=15)   # failures counted in the users table within this window


@dataclass
class AuthSettings:
    """How console sessions behave. `from_config` derives them from [http]."""

    session_key: str
    secure_cookies: bool
    max_age: int = 8 * 3600          # a shift: sign in again after 8 h whatever happens
    idle_timeout: int = 30 * 60      # automatic sign-off of an unattended console
    cookie_name: str = "callcenter_session"
    allowed_origins: frozenset[str] = frozenset()   # host:port besides the request's own Host

    @classmethod
    def from_config(cls, cfg: Config) -> AuthSettings:
        key = cfg.http.session_key
        if not key:
            # No secret configured (a test, or `serve` without `setup`): sessions end with the process.
            log.warning("http.session_key is empty: using a random key, sessions end at restart")
            key = secrets.token_urlsafe(32)
        # Cookies over plain HTTP only where the browser is on the same machine; everywhere else HTTPS.
        return cls(session_key=key, secure_cookies=secure_cookies(cfg.http),
                   allowed_origins=frozenset({f"{cfg.http.host}:{cfg.http.port}"}))

    def fernet_key(self) -> bytes:
        """A Fernet key (32 bytes, url-safe base64) derived from the configured secret of any length."""
        return base64.urlsafe_b64encode(hashlib.sha256(self.session_key.encode()).digest())


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user, as loaded for one request. `desk` is the agent number of their desk, if any."""

    id: int
    username: str
    display_name: str
    role: str
    session_version: int
    desk: str | None = None
    must_change_password: bool = False   # an admin set the password: the user must choose their own first


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    active: bool
    has_password: bool
    last_login_at: datetime | None
    desk: str | None
    phone_endpoint: str | None = None   # the phone of a user without a desk (supervisors' listen/whisper)


@dataclass
class _Credentials:
    user_id: int | None
    password_hash: str | None
    usable: bool          # active, has a password
    reason: str = ""      # why not usable, for the audit row


# -- users: synchronous, one Session ---------------------------------------------------------------------


def validate_password(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise WeakPassword("the password must not contain the username")
    if len(set(password)) < 4:
        raise WeakPassword("the password is too repetitive")


def normalize_username(username: str) -> str:
    return username.strip().lower()


def create_user(session: Session, hasher: PasswordHasher, username: str, role: str,
                display_name: str | None = None, password: str | None = None, *,
                must_change: bool = False) -> User:
    username = normalize_username(username)
    if not USERNAME.match(username):
        raise InvalidUserField("a username is 1-64 characters: lower-case letters, digits, '.', '_', '-'")
    if role not in USER_ROLES:
        raise InvalidUserField(f"unknown role {role!r}: choose one of {', '.join(USER_ROLES)}")
    if _find(session, username) is not None:
        raise DuplicateUser(f"a user named {username!r} already exists")
    display_name = (display_name or username).strip()
    if not 0 < len(display_name) <= 120:
        raise InvalidUserField("the display name must have 1-120 characters")
    user = User(username=username, display_name=display_name, role=role, active=True)
    if password is not None:
        _set_password(user, hasher, password)
        user.must_change_password = must_change
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, hasher: PasswordHasher, username: str, password: str, *,
                 must_change: bool = False) -> User:
    """Set a new password; it also clears the failure count and ends the user's sessions. `must_change`:
    someone else chose it (an admin), so the user must replace it at the next sign-in."""
    user = _find(session, normalize_username(username))
    if user is None:
        raise UnknownUser(f"no user named {username!r}")
    _set_password(user, hasher, password)
    user.failed_logins, user.failed_logins_since = 0, None
    user.session_version += 1
    user.must_change_password = must_change
    return user


def list_users(session: Session) -> list[UserInfo]:
    rows = session.execute(select(User, Agent.number).outerjoin(Agent, Agent.user_id == User.id)
                           .order_by(User.username))
    return [UserInfo(u.username, u.display_name, u.role, u.active, u.password_hash is not None,
                     u.last_login_at, number, u.phone_endpoint) for u, number in rows]


def _set_password(user: User, hasher: PasswordHasher, password: str) -> None:
    validate_password(password, user.username)
    user.password_hash = hasher.hash(password)
    user.password_changed_at = utcnow()


def _find(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


# -- sign-in ----------------------------------------------------------------------------------------------


@dataclass
class UserService:
    db: Database
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    throttle: SignInThrottle = field(default_factory=SignInThrottle)

    def __post_init__(self) -> None:
        # Verified against when the user is unknown or unusable, so such attempts take as long as real ones.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    async def authenticate(self, username: str, password: str, remote: str | None) -> CurrentUser:
        """The signed-in user, or SignInFailed (whatever went wrong: the caller shows one generic message), or
        SignInThrottled before any work when this address (or everyone) failed too often."""
        username = normalize_username(username)[:64]
        self.throttle.check(remote, username)
        creds = await self.db.run(_credentials, username)
        ok = await self._verify(creds.password_hash or self._dummy_hash, password)
        ok = ok and creds.usable
        needs_rehash = ok and self.hasher.check_needs_rehash(creds.password_hash)
        new_hash = await self._hash(password) if needs_rehash else None
        outcome = await self.db.run(_record_attempt, creds, ok, new_hash, remote, self.lockout, utcnow())
        if outcome is None:
            self.throttle.failed(remote, username)
            raise SignInFailed(creds.reason or "wrong_password")
        self.throttle.succeeded(remote, username)
        return outcome

    async def change_password(self, user_id: int, current: str, new: str, remote: str | None) -> CurrentUser:
        """The user's own change: the current password is checked (throttled like a sign-in), the new one must
        differ; every session of the user ends (the caller starts a fresh one). WeakPassword, or SignInFailed
        for a wrong current password, or SignInThrottled."""
        user = await self.current(user_id)
        if user is None:
            raise UnknownUser("no such user")
        self.throttle.check(remote, user.username)
        stored = await self.db.run(_password_hash, user_id)
        if not await self._verify(stored or self._dummy_hash, current) or stored is None:
            self.throttle.failed(remote, user.username)
            await self.db.run(_audit_now, "password_change_failed", user_id, {"remote": remote})
            raise SignInFailed("wrong_password")
        validate_password(new, user.username)
        if new == current:
            raise WeakPassword("choose a password different from the current one")
        new_hash = await self._hash(new)
        return await self.db.run(_store_own_password, user_id, new_hash, remote)

    async def current(self, user_id: int) -> CurrentUser | None:
        """The active user with this id (re-read on every request: deactivation and sign-out act at once)."""
        return await self.db.run(_current, user_id)

    async def session_versions(self, user_ids: set[int]) -> dict[int, int]:
        """Session version by user id, for the active users among `user_ids` (one query for many sockets)."""
        return await self.db.run(_session_versions, user_ids)

    async def sign_out(self, user_id: int, remote: str | None) -> None:
        await self.db.run(_sign_out, user_id, remote)

    async def _verify(self, password_hash: str, password: str) -> bool:
        async with self.throttle.hashing:  # each hash takes 64 MiB: a bounded number at a time
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, _verify, self.hasher, password_hash, password)

    async def _hash(self, password: str) -> str:
        async with self.throttle.hashing:
            return await asyncio.get_running_loop().run_in_executor(None, self.hasher.hash, password)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _credentials(session: Session, username: str) -> _Credentials:
    user = _find(session, username)
    if user is None:
        return _Credentials(None, None, False, "unknown_user")
    if not user.active:
        return _Credentials(user.id, user.password_hash, False, "inactive")
    if user.password_hash is None:
        return _Credentials(user.id, None, False, "no_password")
    return _Credentials(user.id, user.password_hash, True)


def _record_attempt(session: Session, creds: _Credentials, ok: bool, new_hash: str | None,
                    remote: str | None, policy: LockoutPolicy, now: datetime) -> CurrentUser | None:
    detail = {"remote": remote}
    if creds.user_id is None:
        _audit(session, "sign_in_failed", None, now, detail | {"reason": creds.reason})
        return None
    user = session.get(User, creds.user_id, with_for_update=True)
    if not ok:
        _count_failure(session, user, creds.reason or "wrong_password", detail, policy, now)
        return None
    user.failed_logins, user.failed_logins_since = 0, None
    user.last_login_at = now
    if new_hash:
        user.password_hash = new_hash
    _audit(session, "sign_in", user.id, now, detail)
    return _current(session, user.id)


def _count_failure(session: Session, user: User, reason: str, detail: dict, policy: LockoutPolicy,
                   now: datetime) -> None:
    """Count for the admin's view; never lock (throttle.py slows the guessing address instead)."""
    _audit(session, "sign_in_failed", user.id, now, detail | {"reason": reason})
    if user.failed_logins_since is None or now - user.failed_logins_since > policy.window:
        user.failed_logins, user.failed_logins_since = 0, now
    user.failed_logins += 1


def _current(session: Session, user_id: int) -> CurrentUser | None:
    row = session.execute(select(User, Agent.number).outerjoin(Agent, Agent.user_id == User.id)
                          .where(User.id == user_id)).first()
    if row is None or not row[0].active:
        return None
    user, desk = row
    return CurrentUser(user.id, user.username, user.display_name, user.role, user.session_version, desk,
                       user.must_change_password)


def _password_hash(session: Session, user_id: int) -> str | None:
    return session.scalar(select(User.password_hash).where(User.id == user_id))


def _store_own_password(session: Session, user_id: int, password_hash: str,
                        remote: str | None) -> CurrentUser:
    user = session.get(User, user_id, with_for_update=True)
    user.password_hash, user.password_changed_at = password_hash, utcnow()
    user.must_change_password = False
    user.session_version += 1  # a thief's session ends with the old password
    _audit(session, "password_changed", user_id, utcnow(), {"remote": remote})
    return _current(session, user_id)


def _audit_now(session: Session, action: str, user_id: int, detail: dict) -> None:
    _audit(session, action, user_id, utcnow(), detail)


def _session_versions(session: Session, user_ids: set[int]) -> dict[int, int]:
    rows = session.execute(select(User.id, User.session_version)
                           .where(User.id.in_(user_ids), User.active.is_(True)))
    return {user_id: version for user_id, version in rows}


def _sign_out(session: Session, user_id: int, remote: str | None) -> None:
    session.execute(update(User).where(User.id == user_id)
                    .values(session_version=User.session_version + 1))
    _audit(session, "sign_out", user_id, utcnow(), {"remote": remote})


def _audit(session: Session, action: str, user_id: int | None, now: datetime, detail: dict) -> None:
    session.add(AuditEvent(ts=now, action=action, actor_user_id=user_id, detail=detail))


@dataclass
class Auth:
    """What the auth middleware and views need: settings, users and API clients (one per application)."""

    settings: AuthSettings
    users: UserService
    tickets: WsTickets = field(default_factory=WsTickets)
    sockets: SessionSockets | None = None   # websockets of signed-in users, closed when their session ends
    clients: ApiClients | None = None       # machine clients of /api/* (auth/clients.py)

    def __post_init__(self) -> None:
        if self.clients is None:
            self.clients = ApiClients(self.users.db)
        if self.sockets is None:
            self.sockets = SessionSockets(self.users.session_versions, active_clients=self.clients.active_ids)

    @classmethod
    def from_config(cls, cfg: Config, db: Database) -> Auth:
        return cls(AuthSettings.from_config(cfg), UserService(db))
