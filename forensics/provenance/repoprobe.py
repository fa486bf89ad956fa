"""Can a lookup in a SQLite manifest repository find anything? Asked with the standard library, read-only.

Opening the repository through SQLAlchemy costs ≈ 0.2–0.3 s of a cold ``verify`` (imports, engine, schema
checks), mostly to find nothing: a photo that was never registered. :class:`Probe` asks the recovery
analyser's two questions with one query each; a "no" is final (the real lookup would find nothing either),
a "maybe" opens :class:`~forensics.provenance.repository.ManifestRepository`, which gives every result as
before. Anything this cannot judge — another database URL, an older schema, a locked or damaged file — is
a "maybe".
"""
from __future__ import annotations

from pathlib import Path

from .phash import BANDS, bands, hamming, norm_hex

# ManifestRow's table and columns (forensics.provenance.repository; a test keeps the two in step)
TABLE = "manifests"
SCHEME, VALUE, PHASH = "watermark_scheme", "watermark_value", "phash"
KEY_COLUMNS = ("manifest_id", "created_at", "watermark_scheme", "watermark_value", "phash", "manifest_store")


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain ``sqlite:///ABSOLUTE/PATH`` URL (what ``config.registry_url`` gives for
    a path), else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = Path(url[len(prefix):])
    return path if path.is_absolute() else None


class Probe:
    """Read-only questions to one SQLite repository file; a fresh connection per question."""

    def __init__(self, path: Path):
        self.path = path

    def _rows(self, sql: str, params: tuple) -> list[tuple] | None:
        """The query's rows; None when the file is not a manifest repository as ManifestRepository reads it
        (no table, a table of another schema: ManifestRepository then returns None or says why)."""
        import sqlite3

        try:
            con = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=0.5)
            try:
                columns = {row[1] for row in con.execute(f"PRAGMA table_info({TABLE})")}
                if not set(KEY_COLUMNS) <= columns:
                    return None
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        except (sqlite3.Error, OSError, ValueError):
            return None  # cannot tell: "maybe"

    def may_have_watermark(self, scheme: str, value_hex: str) -> bool:
        """False only when no stored manifest has this (scheme, payload): ``by_watermark`` would be None."""
        try:
            value = norm_hex(value_hex)
        except ValueError:
            return False  # by_watermark returns None for a payload that is not hex
        rows = self._rows(f"SELECT 1 FROM {TABLE} WHERE {SCHEME} = ? AND {VALUE} = ? LIMIT 1", (scheme, value))
        return rows is None or bool(rows)

    def may_have_fingerprint(self, phash: str, max_distance: int) -> bool:
        """False only when ``by_fingerprint(phash, max_distance)`` would return nothing: the same candidate
        rows (the band prefilter included), the same distance test."""
        try:
            query_bands = bands(phash)
        except (TypeError, ValueError):
            return False  # by_fingerprint returns [] for a hash that is not hex
        sql, params = f"SELECT {PHASH} FROM {TABLE} WHERE {PHASH} IS NOT NULL", ()
        if max_distance < BANDS:
            sql += " AND (" + " OR ".join(f"b{i} = ?" for i in range(BANDS)) + ")"
            params = tuple(query_bands)
        rows = self._rows(sql, params)
        if rows is None:
            return True
        try:
            return any(hamming(phash, stored) <= max_distance for (stored,) in rows)
        except (TypeError, ValueError):  # a malformed stored hash: let the real lookup deal with it
            return True
