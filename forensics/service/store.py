"""The service's tables (API keys, per-day usage, the append-only audit log) on the shared
:class:`forensics.db.Base`, and :class:`ServiceStore`, the small API the app and the CLI use.

API keys look like ``fsk_<8-char id>_<43-char secret>``. Only the SHA-256 of the whole key is stored (keys are
random, 256 bits, so a fast hash is the right tool: there is nothing to brute-force); the id part finds the row.
The audit log is append-only: no code path updates or deletes it, the migration installs database triggers
that refuse UPDATE and DELETE, and every entry carries the SHA-256 of the previous one (a hash chain) so
an edit made behind the database's back is detectable with :meth:`ServiceStore.verify_audit_chain`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, session_factory
from ..errors import ConfigError

KEY_PREFIX = "fsk_"
SCOPES = ("generate", "verify")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime | None) -> datetime | None:  # SQLite hands datetimes back naive
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


class ApiKey(Base):
    __tablename__ = "service_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # comma-separated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rate_per_minute: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: service default
    daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def scope_set(self) -> set[str]:
        return {s for s in self.scopes.split(",") if s}


class UsageCounter(Base):
    """Generation jobs admitted per key per UTC day (the persisted part of the quota)."""

    __tablename__ = "service_usage"

    key_id: Mapped[str] = mapped_column(String(16), ForeignKey("service_api_keys.key_id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    count: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    __tablename__ = "service_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(32))  # generated | refused | failed | timeout | rejected
    key_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    manifest_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    prompt_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str | None] = mapped_column(String(500), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    entry_sha256: Mapped[str] = mapped_column(String(64))


GENESIS = "0" * 64


def _entry_digest(prev: str, at: datetime, event: str, key_name, manifest_id, prompt_sha256, model, detail) -> str:
    body = json.dumps([prev, _aware(at).isoformat(), event, key_name, manifest_id, prompt_sha256, model, detail],
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What request handlers see of a key (never the hash)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    rate_per_minute: float | None
    daily_quota: int | None


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class ServiceStore:
    """Keys, usage and the audit log in one database (SQLite by default, any SQLAlchemy URL)."""

    def __init__(self, url: str, checkpoint=None):
        """``checkpoint``: an :class:`~forensics.service.checkpoint.AuditCheckpoint` — the signed head of the
        audit log, rewritten after every append and checked by :meth:`verify_audit_chain` (None: no anchor,
        so deleting the newest entries goes unnoticed)."""
        self.url = url
        self._sessions = session_factory(url)
        self._audit_lock = threading.Lock()  # one writer of the hash chain per process
        self.checkpoint = checkpoint

    # -- keys ------------------------------------------------------------------------------------
    def create_api_key(self, name: str, scopes: list[str] | tuple[str, ...] = SCOPES, *,
                       rate_per_minute: float | None = None, daily_quota: int | None = None) -> tuple[str, KeyInfo]:
        """Make a key; returns (the key itself — shown once, never stored —, its info)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ConfigError("the key name must be 1-200 characters")
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ConfigError(f"unknown scope(s) {', '.join(bad) or '(none)'}; choose from {', '.join(SCOPES)}")
        key_id = secrets.token_hex(4)
        token = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self._sessions() as s, s.begin():
            if s.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
                raise ConfigError(f"an API key named {name!r} already exists")
            row = ApiKey(key_id=key_id, name=name, key_sha256=hash_key(token), scopes=",".join(sorted(set(scopes))),
                         created_at=utcnow(), rate_per_minute=rate_per_minute, daily_quota=daily_quota)
            s.add(row)
        return token, self._info(row)

    @staticmethod
    def _info(row: ApiKey) -> KeyInfo:
        return KeyInfo(row.key_id, row.name, frozenset(row.scope_set), row.rate_per_minute, row.daily_quota)

    def authenticate(self, token: str) -> KeyInfo | None:
        """The key's info if ``token`` is a live key, else None (constant-time hash comparison)."""
        if not token.startswith(KEY_PREFIX) or len(token) > 200:
            return None
        key_id = token[len(KEY_PREFIX):].partition("_")[0]
        with self._sessions() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_sha256, hash_key(token)):
                return None
            return self._info(row)

    def list_keys(self) -> list[dict]:
        """Every key (never the secret). A database without the key table (never migrated) has none."""
        from sqlalchemy import inspect

        with self._sessions() as s:
            if not inspect(s.connection()).has_table(ApiKey.__tablename__):
                return []
            return [{"key_id": r.key_id, "name": r.name, "scopes": sorted(r.scope_set),
                     "created_at": _aware(r.created_at).isoformat(),
                     "revoked_at": _aware(r.revoked_at).isoformat() if r.revoked_at else None,
                     "rate_per_minute": r.rate_per_minute, "daily_quota": r.daily_quota}
                    for r in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, name: str) -> bool:
        with self._sessions() as s, s.begin():
            row = s.scalar(select(ApiKey).where(ApiKey.name == name))
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            return True

    # -- quota -----------------------------------------------------------------------------------
    def consume_quota(self, key_id: str, quota: int, now: datetime | None = None) -> bool:
        """Count one job for today (UTC); False (nothing counted) when the quota is used up.

        One conditional UPDATE does check-and-increment atomically, in SQLite and Postgres alike."""
        day = (now or utcnow()).strftime("%Y-%m-%d")
        with self._sessions() as s, s.begin():
            if s.get(UsageCounter, (key_id, day)) is None:
                try:
                    with s.begin_nested():
                        s.add(UsageCounter(key_id=key_id, day=day, count=0))
                except IntegrityError:  # another request created today's row first
                    pass
            done = s.execute(update(UsageCounter)
                             .where(UsageCounter.key_id == key_id, UsageCounter.day == day,
                                    UsageCounter.count < quota)
                             .values(count=UsageCounter.count + 1))
            return done.rowcount == 1

    def refund_quota(self, key_id: str, now: datetime | None = None) -> None:
        day = (now or utcnow()).strftime("%Y-%m-%d")
        with self._sessions() as s, s.begin():
            s.execute(update(UsageCounter)
                      .where(UsageCounter.key_id == key_id, UsageCounter.day == day, UsageCounter.count > 0)
                      .values(count=UsageCounter.count - 1))

    def usage(self, key_id: str, now: datetime | None = None) -> int:
        day = (now or utcnow()).strftime("%Y-%m-%d")
        with self._sessions() as s:
            row = s.get(UsageCounter, (key_id, day))
            return row.count if row else 0

    # -- audit log -------------------------------------------------------------------------------
    def audit(self, event: str, *, key_name: str | None = None, manifest_id: str | None = None,
              prompt_sha256: str | None = None, model: str | None = None, detail: str | None = None) -> None:
        """Append one entry (never updates, never deletes)."""
        with self._audit_lock:
            with self._sessions() as s, s.begin():
                last = s.scalar(select(AuditEntry.entry_sha256).order_by(AuditEntry.id.desc()).limit(1))
                prev = last or GENESIS
                at = utcnow()
                digest = _entry_digest(prev, at, event, key_name, manifest_id, prompt_sha256, model, detail)
                s.add(AuditEntry(at=at, event=event, key_name=key_name, manifest_id=manifest_id,
                                 prompt_sha256=prompt_sha256, model=model, detail=detail,
                                 prev_sha256=prev, entry_sha256=digest))
            if self.checkpoint is not None:
                with self._sessions() as s:
                    rows = s.scalar(select(func.count()).select_from(AuditEntry)) or 0
                    head_id, head = s.execute(select(AuditEntry.id, AuditEntry.entry_sha256)
                                              .order_by(AuditEntry.id.desc()).limit(1)).one()
                self.checkpoint.write(rows, head_id, head)

    def audit_entries(self, limit: int | None = None) -> list[dict]:
        with self._sessions() as s:
            q = select(AuditEntry).order_by(AuditEntry.id)
            if limit:
                q = q.limit(limit)
            return [{"id": e.id, "at": _aware(e.at).isoformat(), "event": e.event, "key_name": e.key_name,
                     "manifest_id": e.manifest_id, "prompt_sha256": e.prompt_sha256, "model": e.model,
                     "detail": e.detail, "entry_sha256": e.entry_sha256} for e in s.scalars(q)]

    def verify_audit_chain(self) -> tuple[bool, int | None]:
        """(True, None) if every entry hashes to its stored digest and links to its predecessor and, with a
        checkpoint, the log still reaches the signed head; else (False, id of the first bad entry — for a
        log cut short, the checkpoint's head id; None when the checkpoint itself is missing or bad).
        :meth:`audit_status` says which."""
        status = self.audit_status()
        return status["ok"], status["first_bad_id"]

    def audit_status(self) -> dict:
        """The audit log's integrity in detail: ``ok``, ``rows``, ``first_bad_id``, ``reason`` (None when ok),
        ``checkpoint`` (the signed head checked against, or None) and ``unanchored`` (rows after it: appended
        since, or — after a crash between append and checkpoint — at most one)."""
        out = {"ok": True, "rows": 0, "first_bad_id": None, "reason": None, "checkpoint": None, "unanchored": 0}

        def bad(reason: str, entry_id: int | None) -> dict:
            out.update(ok=False, reason=reason, first_bad_id=entry_id)
            return out

        cp, why = (None, None)
        if self.checkpoint is not None:
            cp, why = self.checkpoint.read()
            out["checkpoint"] = cp
        prev = GENESIS
        seen_head = False
        with self._sessions() as s:
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id)):
                digest = _entry_digest(prev, e.at, e.event, e.key_name, e.manifest_id, e.prompt_sha256, e.model,
                                       e.detail)
                if e.prev_sha256 != prev or e.entry_sha256 != digest:
                    return bad(f"entry {e.id} does not match its hash chain (edited, or a predecessor removed)", e.id)
                prev = e.entry_sha256
                out["rows"] += 1
                if cp is not None and e.id == cp["head_id"]:
                    seen_head = True
                    if e.entry_sha256 != cp["head_sha256"] or out["rows"] != cp["rows"]:
                        return bad(f"the log up to entry {e.id} differs from the signed checkpoint "
                                   f"({cp['rows']} entries)", e.id)
                elif seen_head:
                    out["unanchored"] += 1
        if why is not None:
            return bad(why, None)
        if self.checkpoint is not None and cp is None and out["rows"]:
            return bad(f"the log has {out['rows']} entries but no signed checkpoint ({self.checkpoint.path}); "
                       "it may have been removed", None)
        if cp is not None and not seen_head and cp["rows"]:
            return bad(f"the log has {out['rows']} entries and ends before the signed checkpoint's head "
                       f"(entry {cp['head_id']}, {cp['rows']} entries): its newest entries were removed",
                       cp["head_id"])
        return out
