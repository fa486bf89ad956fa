"""The manifest repository: every manifest the generator signs, findable by its watermark or its look.

A copy of a generated image that lost its metadata (screenshot, re-upload, messenger recompression) still
carries the invisible watermark, whose payload is the key here; when the mark is gone too, a perceptual
hash (pHash, 64 bits) finds near-duplicates. SQLite by default (``$FORENSICS_REGISTRY``), any SQLAlchemy URL
otherwise. Torch-free: ``forensics verify`` imports this.

Fingerprint search: the 64-bit hash is also stored as eight 8-bit bands with an index each. Two hashes within
Hamming distance d < 8 share at least one band exactly (pigeonhole), so a search with ``max_distance <= 7``
only reads rows that share a band and then checks the exact distance; wider searches scan every row.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint, inspect, or_,
                        select, text)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, undefer

from .. import config
from ..db import Base, engine_for, session_factory
from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# the fingerprint helpers live in .phash (no SQLAlchemy): the recovery analyser's probe uses them too
from .phash import BANDS, DEFAULT_MAX_DISTANCE, FINGERPRINT_SIDE, fingerprint, hamming  # noqa: F401
from .phash import bands as _bands
from .phash import norm_hex as _norm_hex


class ManifestRow(Base):
    __tablename__ = "manifests"

    manifest_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    media_type: Mapped[str | None] = mapped_column(String(100))
    watermark_scheme: Mapped[str | None] = mapped_column(String(100))
    watermark_value: Mapped[str | None] = mapped_column(String(200))  # payload, lowercase hex
    phash: Mapped[str | None] = mapped_column(String(16))  # 64-bit pHash, hex
    b0: Mapped[int | None] = mapped_column(Integer, index=True)
    b1: Mapped[int | None] = mapped_column(Integer, index=True)
    b2: Mapped[int | None] = mapped_column(Integer, index=True)
    b3: Mapped[int | None] = mapped_column(Integer, index=True)
    b4: Mapped[int | None] = mapped_column(Integer, index=True)
    b5: Mapped[int | None] = mapped_column(Integer, index=True)
    b6: Mapped[int | None] = mapped_column(Integer, index=True)
    b7: Mapped[int | None] = mapped_column(Integer, index=True)
    validation_state: Mapped[str | None] = mapped_column(String(20))  # as judged when it was signed
    manifest_store: Mapped[str] = mapped_column(Text)  # c2pa Reader JSON of the signed asset
    credentials: Mapped[str | None] = mapped_column(Text)  # CredentialsFinding JSON at signing time
    signer_chain_pem: Mapped[str | None] = mapped_column(Text)  # lets recovery re-check trust later
    # the binary manifest store (application/c2pa) Builder.sign returned: recovery re-validates it with
    # c2pa's Reader, and /manifests/{id} serves it. NULL for records stored before it was kept.
    manifest_store_c2pa: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # what the registered image looks like (forensics.provenance.content_match, <= 8 KB): lets recovery
    # tell a derived copy from a photo a watermark was transplanted into. Deferred: repositories made
    # before the column existed are still read (their records answer None).
    content_descriptor: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (
        UniqueConstraint("watermark_scheme", "watermark_value", name="uq_manifests_watermark"),
        Index("ix_manifests_watermark", "watermark_scheme", "watermark_value"),
    )


@dataclass
class ManifestRecord:
    """One stored manifest (what the repository answers with)."""

    manifest_id: str
    created_at: dt.datetime
    media_type: str | None
    watermark_scheme: str | None
    watermark_value: str | None
    phash: str | None
    validation_state: str | None
    manifest_store: dict
    credentials: dict | None = None
    signer_chain_pem: str | None = None
    manifest_store_bytes: bytes | None = None  # application/c2pa; None for older records
    distance: int | None = None  # set by by_fingerprint
    extra: dict = field(default_factory=dict)
    content_descriptor: bytes | None = None  # see forensics.provenance.content_match

    @property
    def manifest(self) -> dict:
        """The active manifest of the stored store."""
        store = self.manifest_store or {}
        return (store.get("manifests") or {}).get(store.get("active_manifest") or self.manifest_id, {})

    @classmethod
    def _from_row(cls, row: ManifestRow, with_bytes: bool = True) -> "ManifestRecord":
        rec = cls._from_row_json(row)
        if with_bytes:
            rec.manifest_store_bytes = row.manifest_store_c2pa
        return rec

    @classmethod
    def _from_row_json(cls, row: ManifestRow) -> "ManifestRecord":
        return cls(manifest_id=row.manifest_id, created_at=row.created_at, media_type=row.media_type,
                   watermark_scheme=row.watermark_scheme, watermark_value=row.watermark_value,
                   phash=row.phash, validation_state=row.validation_state,
                   manifest_store=json.loads(row.manifest_store),
                   credentials=json.loads(row.credentials) if row.credentials else None,
                   signer_chain_pem=row.signer_chain_pem,
                   # only when loaded (never a lazy load: the column may not exist in an older repository)
                   content_descriptor=row.__dict__.get("content_descriptor"))


# Columns every version of the table has: their absence means the table is not a manifest repository.
_KEY_COLUMNS = ("manifest_id", "created_at", "watermark_scheme", "watermark_value", "phash", "manifest_store")


def _create_table(engine, url: str) -> None:
    """Create the table where missing, then check it is ours. Several processes may race to create it
    (parallel `forensics generate` on a new registry): a CREATE TABLE/INDEX that loses the race is retried
    with checkfirst, which then finds what the winner made."""
    from ..db import database_error

    for attempt in range(5):
        try:
            Base.metadata.create_all(engine, tables=[ManifestRow.__table__], checkfirst=True)
            break
        except SQLAlchemyError as exc:
            lost_race = "already exists" in str(exc).lower() or "duplicate" in str(exc).lower()
            if not lost_race or attempt == 4:
                raise database_error(url, exc, "the manifest repository") from None
    _check_columns(engine, url)


def _check_columns(engine, url: str) -> None:
    """A table named ``manifests`` that is not ours (another program's, or damaged) is refused with the
    missing columns, rather than failing later inside a query."""
    from ..db import database_error, safe_url

    try:
        have = {c["name"] for c in inspect(engine).get_columns(ManifestRow.__tablename__)}
    except SQLAlchemyError as exc:
        raise database_error(url, exc, "the manifest repository") from None
    missing = [c for c in _KEY_COLUMNS if c not in have]
    if missing:
        raise ConfigError(f"the manifest repository {safe_url(url)} has a table 'manifests' of another schema "
                          f"(missing columns: {', '.join(missing)}); point $FORENSICS_REGISTRY at another file "
                          "or database")


class ManifestRepository:
    """Store and look up signed manifests. Cheap to construct; engines are cached per URL."""

    def __init__(self, url: str | None = None, *, create: bool = True):
        self.url = config.registry_url(url)
        try:
            self._engine = engine_for(self.url)
        except (SQLAlchemyError, ValueError, ModuleNotFoundError) as exc:
            raise ConfigError(f"cannot open the manifest repository {self.url}: {exc}") from None
        self._session = session_factory(self.url)
        self._descriptor_column: bool | None = None  # does the table have content_descriptor? (asked once)
        if create:
            self._ensure_schema()
        self._has_store_bytes = self._column_exists("manifest_store_c2pa")

    @classmethod
    def existing(cls, url: str | None = None) -> "ManifestRepository | None":
        """The repository at ``url`` if it exists (verify must not create an empty database as a side effect)."""
        resolved = config.registry_url(url)
        if resolved.startswith("sqlite:///"):
            from pathlib import Path

            if not Path(resolved[len("sqlite:///"):]).is_file():
                return None
        repo = cls(resolved, create=False)
        try:
            if not inspect(repo._engine).has_table(ManifestRow.__tablename__):
                return None
        except SQLAlchemyError as exc:
            from ..db import database_error

            raise database_error(resolved, exc, "the manifest repository") from None
        _check_columns(repo._engine, resolved)
        return repo

    def _ensure_schema(self) -> None:
        _create_table(self._engine, self.url)  # race-safe creation; refuses a 'manifests' table of another schema
        try:
            Base.metadata.create_all(self._engine, tables=[ManifestRow.__table__], checkfirst=True)
        except SQLAlchemyError as exc:
            raise ConfigError(f"cannot create the manifest repository {self.url}: {exc}") from None
        # columns added after the first release (migrations 0003, 0004): a writer adds them to an older repository
        for name in ("manifest_store_c2pa", "content_descriptor"):
            self._add_column(name)
        self._descriptor_column = True

    def _add_column(self, name: str) -> None:
        if self._column_exists(name):
            return
        kind = LargeBinary().compile(dialect=self._engine.dialect)
        try:
            with self._engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {ManifestRow.__tablename__} ADD COLUMN {name} {kind}"))
        except SQLAlchemyError:
            if not self._column_exists(name):  # another writer may have added it meanwhile
                raise ConfigError(f"cannot add the {name} column to {self.url}; run `forensics db upgrade`") from None

    def _has_descriptor_column(self) -> bool:
        if self._descriptor_column is None:
            self._descriptor_column = self._column_exists("content_descriptor")
        return self._descriptor_column

    def _select(self):
        """SELECT of whole rows, with the content descriptor where the repository has the column."""
        stmt = select(ManifestRow)
        return stmt.options(undefer(ManifestRow.content_descriptor)) if self._has_descriptor_column() else stmt

    def _column_exists(self, name: str) -> bool:
        try:
            return name in {c["name"] for c in inspect(self._engine).get_columns(ManifestRow.__tablename__)}
        except SQLAlchemyError:
            return False

    # -- writing ----------------------------------------------------------------------------
    def store(self, *, manifest_id: str, manifest_store: dict, watermark_scheme: str | None = None,
              watermark_value: str | None = None, phash: str | None = None, media_type: str | None = None,
              validation_state: str | None = None, credentials: dict | None = None,
              signer_chain_pem: str | bytes | None = None,
              manifest_store_bytes: bytes | None = None,
              content_descriptor: bytes | None = None) -> ManifestRecord:
        """Insert one manifest. Raises ConfigError if the ID or the watermark value is already taken.

        ``content_descriptor``: :func:`forensics.provenance.content_match.describe` of the registered image."""
        value = _norm_hex(watermark_value) if watermark_value else None
        bands = _bands(phash) if phash else [None] * BANDS
        if isinstance(signer_chain_pem, bytes):
            signer_chain_pem = signer_chain_pem.decode("ascii", "replace")
        row = ManifestRow(manifest_id=manifest_id, created_at=dt.datetime.now(dt.timezone.utc),
                          media_type=media_type, watermark_scheme=watermark_scheme, watermark_value=value,
                          phash=phash, validation_state=validation_state,
                          manifest_store=json.dumps(manifest_store),
                          credentials=json.dumps(credentials) if credentials is not None else None,
                          signer_chain_pem=signer_chain_pem,
                          **{f"b{i}": b for i, b in enumerate(bands)})
        if manifest_store_bytes is not None:
            if not self._has_store_bytes:
                raise ConfigError(f"the manifest repository {self.url} predates stored manifest bytes; "
                                  "run the migrations (revision 0003) or open it for writing once")
            row.manifest_store_c2pa = bytes(manifest_store_bytes)
        if content_descriptor is not None:
            row.content_descriptor = bytes(content_descriptor)
        try:
            with self._session.begin() as s:
                s.add(row)
        except IntegrityError:
            raise ConfigError(f"manifest {manifest_id} or watermark {watermark_scheme}:{value} is already "
                              "in the repository") from None
        rec = ManifestRecord._from_row_json(row)
        rec.manifest_store_bytes = row.__dict__.get("manifest_store_c2pa")
        return rec

    # -- reading ----------------------------------------------------------------------------
    def get(self, manifest_id: str) -> ManifestRecord | None:
        with self._session() as s:
            row = s.scalars(self._select().where(ManifestRow.manifest_id == manifest_id)).first()
            return ManifestRecord._from_row(row, self._has_store_bytes) if row else None

    def by_watermark(self, scheme: str, value_hex: str) -> ManifestRecord | None:
        try:
            value = _norm_hex(value_hex)
        except ValueError:
            return None
        with self._session() as s:
            row = s.scalars(self._select().where(ManifestRow.watermark_scheme == scheme,
                                                      ManifestRow.watermark_value == value)).first()
            return ManifestRecord._from_row(row, self._has_store_bytes) if row else None

    def watermark_taken(self, scheme: str, value_hex: str) -> bool:
        return self.by_watermark(scheme, value_hex) is not None

    def by_fingerprint(self, phash: str, max_distance: int = DEFAULT_MAX_DISTANCE,
                       limit: int = 10) -> list[ManifestRecord]:
        """Manifests whose image pHash is within ``max_distance`` bits, nearest first (``record.distance``)."""
        try:
            int(phash, 16)
        except (TypeError, ValueError):
            return []
        # first only the keys and hashes of the candidates (a stored manifest can be many kB of JSON),
        # then the full rows of the nearest few
        stmt = select(ManifestRow.manifest_id, ManifestRow.phash, ManifestRow.created_at).where(
            ManifestRow.phash.is_not(None))
        if max_distance < BANDS:  # pigeonhole prefilter on the indexed bands
            cols = [getattr(ManifestRow, f"b{i}") for i in range(BANDS)]
            stmt = stmt.where(or_(*(c == b for c, b in zip(cols, _bands(phash)))))
        with self._session() as s:
            near = []
            for mid, ph, created in s.execute(stmt.execution_options(yield_per=1000)):
                d = hamming(phash, ph)
                if d <= max_distance:
                    near.append((d, created, mid))
            if not near:
                return []
            near.sort(key=lambda t: (t[0], t[1]))
            near = near[:limit]
            rows = {r.manifest_id: r for r in s.scalars(
                self._select().where(ManifestRow.manifest_id.in_([m for _, _, m in near])))}
            out: list[ManifestRecord] = []
            for d, _, mid in near:
                rec = ManifestRecord._from_row(rows[mid], self._has_store_bytes)
                rec.distance = d
                out.append(rec)
        return out

    def count(self) -> int:
        from sqlalchemy import func

        with self._session() as s:
            return s.scalar(select(func.count()).select_from(ManifestRow)) or 0

    def to_json_summary(self, rec: ManifestRecord) -> dict[str, Any]:
        return {"manifest_id": rec.manifest_id, "created_at": rec.created_at.isoformat() if rec.created_at else None,
                "watermark": {"scheme": rec.watermark_scheme, "value": rec.watermark_value},
                "phash": rec.phash, "validation_state": rec.validation_state}
