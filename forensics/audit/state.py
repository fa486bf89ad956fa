"""The audit's memory: one SQLite file beside the report (``REPORT.jsonl.state.sqlite``).

Every input is a row keyed by its identity (absolute local path or URL). A result is committed here the
moment a worker returns it, before anything else happens, so a ``kill -9`` at any instant loses at most
the files that were in flight. The report files are then written *from* this table in one pass, to a
temporary name and renamed into place: the JSONL on disk is always a complete report of some run, and
every input appears in it exactly once.

The same rows make re-runs incremental: a file whose size and mtime are unchanged, audited with the same
options, is not opened again; a file whose mtime changed but whose content hash did not is not analysed
again either (the worker hashes it and the stored result is reused).
"""
from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS items (
    key BLOB PRIMARY KEY,       -- absolute local path or URL (bytes: file names need not be UTF-8)
    scan INTEGER NOT NULL,      -- the scan that last listed it; the report is the rows of the latest scan
    seq INTEGER NOT NULL,       -- order within that scan (report order)
    display TEXT NOT NULL,      -- the report's "path"
    folder TEXT NOT NULL,       -- for the per-folder breakdown
    source TEXT NOT NULL,       -- local | fsspec | error
    explicit INTEGER NOT NULL,  -- named by the user (always reported) or found by walking a folder
    size INTEGER, mtime TEXT,   -- as seen by the latest scan
    status TEXT,                -- NULL: to do | done | skipped (not media)
    done_size INTEGER, done_mtime TEXT, done_fp TEXT, done_explicit INTEGER,  -- what the result came from
    sha256 TEXT, label TEXT, error_code TEXT,
    result BLOB,                -- the verify JSON object, zlib-compressed (~5x smaller at 10^7 rows)
    thumb BLOB                  -- small JPEG for the HTML report
);
CREATE INDEX IF NOT EXISTS items_scan_seq ON items (scan, seq);
"""


class StateLocked(RuntimeError):
    pass


@dataclass
class Item:
    """One input as found by the scan."""

    key: str
    display: str
    folder: str
    source: str  # local | fsspec | error
    explicit: bool
    size: int | None = None
    mtime: str | None = None
    error: tuple[str, str] | None = None  # (code, message) when the scan itself failed (bad glob, no backend)
    skip: str | None = None  # why the scan skipped it without a row (e.g. "not_regular": a FIFO named notes)


@dataclass
class Todo:
    """An input that needs a worker; ``known_hash`` set when only the mtime changed."""

    key: str
    display: str
    source: str
    explicit: bool
    size: int | None
    mtime: str | None
    known_hash: str | None
    thumb_only: bool = False  # the stored result stands; only its HTML thumbnail is missing


def _k(key: str) -> bytes:
    """Keys are stored as bytes: a file name that is not valid UTF-8 (``surrogateescape``) still round-trips."""
    return key.encode("utf-8", "surrogateescape")


def _unk(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def _dumps(obj) -> bytes:
    return zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(), 6)


def _loads(blob: bytes) -> dict:
    return json.loads(zlib.decompress(blob))


def state_path_for(report: str | Path) -> Path:
    return Path(str(report) + ".state.sqlite")


class AuditState:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        # WAL + synchronous=NORMAL: a commit survives the process being killed (not a power cut), and
        # costs microseconds, so every result can be its own transaction.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._lock()
        self.db.executescript(SCHEMA)
        version = self.get("schema")
        if version not in (None, SCHEMA_VERSION):  # written by another version: start afresh (a cache)
            self.db.executescript("DROP TABLE items; DROP TABLE meta;" + SCHEMA)
        self.set(schema=SCHEMA_VERSION)

    def _lock(self) -> None:
        """One audit per report at a time. flock is released by the kernel when the process dies (kill -9)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        self._lock_fh = open(self.path, "ab")  # (the database file exists once connected)
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self.db.close()
            raise StateLocked(f"another audit is running on this report ({self.path})") from None

    def close(self) -> None:
        try:  # fold the write-ahead log back into the database file: one file beside the report
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.db.close()
        lock = getattr(self, "_lock_fh", None)
        if lock is not None:
            lock.close()

    # -- meta -----------------------------------------------------------------------------------
    def get(self, k: str, default=None):
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, **values) -> None:
        with self.db:
            self.db.executemany("INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                                [(k, json.dumps(v)) for k, v in values.items()])

    # -- scan -----------------------------------------------------------------------------------
    def begin_scan(self) -> int:
        scan = int(self.get("scan", 0)) + 1
        self.set(scan=scan, run_state="scanning")
        return scan

    def add_items(self, scan: int, items: Iterable[Item], batch: int = 2000, profile: str | None = None) -> int:
        """Record the scan's inputs in order. A key listed twice (overlapping arguments) keeps its first place."""
        seq = 0
        buf: list[tuple] = []
        errors: list[tuple] = []
        skips: list[tuple] = []

        def flush():
            with self.db:
                self.db.executemany(
                    "INSERT INTO items(key, scan, seq, display, folder, source, explicit, size, mtime) "
                    "VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET scan=excluded.scan, "
                    "seq=excluded.seq, display=excluded.display, folder=excluded.folder, "
                    "source=excluded.source, explicit=excluded.explicit, size=excluded.size, "
                    "mtime=excluded.mtime WHERE items.scan != excluded.scan", buf)
                # listed twice in one scan (a folder and a file in it): one row, but named wins over found
                self.db.executemany("UPDATE items SET explicit=1 WHERE key=? AND scan=? AND explicit=0",
                                    [(b[0], scan) for b in buf if b[6]])
                # scan failures are results already: store them as done error rows
                for key, row, code in errors:
                    self.db.execute("UPDATE items SET status='done', result=?, label='error', error_code=?, "
                                    "done_size=NULL, done_mtime=NULL, done_fp=NULL, sha256=NULL, thumb=NULL "
                                    "WHERE key=?", (row, code, key))
                self.db.executemany("UPDATE items SET status='skipped', result=NULL, label=NULL, error_code=?, "
                                    "done_size=NULL, done_mtime=NULL, done_fp=NULL, sha256=NULL, thumb=NULL "
                                    "WHERE key=?", skips)
            buf.clear()
            errors.clear()
            skips.clear()

        from .worker import error_row

        for it in items:
            buf.append((_k(it.key), scan, seq, it.display, it.folder, it.source, int(it.explicit), it.size,
                        it.mtime))
            if it.error:
                row = error_row(it.display, *it.error)
                if profile:
                    row["profile"] = profile
                errors.append((_k(it.key), _dumps(row), it.error[0]))
            elif it.skip:
                skips.append((it.skip, _k(it.key)))
            seq += 1
            if len(buf) >= batch:
                flush()
        flush()
        self.set(run_state="auditing")
        return self.db.execute("SELECT COUNT(*) FROM items WHERE scan=?", (scan,)).fetchone()[0]

    # -- audit ----------------------------------------------------------------------------------
    def todo(self, scan: int, fp: str, force: bool = False, batch: int = 1000, *, also: tuple[str, ...] = (),
             thumbs: bool = False) -> Iterator[Todo]:
        """Inputs of this scan whose stored result (if any) cannot be reused, in report order.

        A stored result is reused when it was made with fingerprint ``fp`` (or one of ``also``: a quick
        screening followed by a full re-check accepts the full result too). ``thumbs``: results without
        an HTML thumbnail come back as thumbnail-only work."""
        fps = (fp, *also)
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT seq, key, display, source, explicit, size, mtime, status, done_size, done_mtime, "
                "done_fp, done_explicit, sha256, thumb IS NULL AND error_code IS NULL FROM items "
                "WHERE scan=? AND seq>? AND source != 'error' ORDER BY seq LIMIT ?",
                (scan, last, batch)).fetchall()
            if not rows:
                return
            for (seq, key, display, source, explicit, size, mtime, status, dsize, dmtime, dfp, dexp,
                 sha, no_thumb) in rows:
                last = seq
                fresh = status in ("done", "skipped") and dfp in fps and not force
                same = size is not None and mtime is not None and dsize == size and dmtime == mtime
                # Whether a non-media file is reported depends on how it was listed: a file skipped when
                # found in a folder gets its row once it is named, and the other way round.
                valid = (status == "skipped" and not explicit) or (status == "done" and (explicit or not dexp))
                if fresh and same and valid:
                    if thumbs and status == "done" and no_thumb:
                        yield Todo(_unk(key), display, source, bool(explicit), size, mtime, None, thumb_only=True)
                    continue  # unchanged: nothing to do
                known = sha if fresh and size is not None and dsize == size else None
                yield Todo(_unk(key), display, source, bool(explicit), size, mtime, known)

    def count_todo(self, scan: int, fp: str, force: bool = False, **kw) -> int:
        return sum(1 for _ in self.todo(scan, fp, force, **kw))

    def flagged(self, scan: int, fp: str, benign: tuple[str, ...], batch: int = 1000) -> Iterator[Todo]:
        """Inputs whose result made with ``fp`` (the screening) has a label outside ``benign``: the files a
        full re-check looks at again."""
        last = -1
        marks = ",".join("?" * len(benign))
        while True:
            rows = self.db.execute(
                "SELECT seq, key, display, source, explicit, size, mtime FROM items WHERE scan=? AND seq>? "
                f"AND source != 'error' AND status='done' AND done_fp=? AND label NOT IN ({marks}) "
                "ORDER BY seq LIMIT ?", (scan, last, fp, *benign, batch)).fetchall()
            if not rows:
                return
            for seq, key, display, source, explicit, size, mtime in rows:
                last = seq
                yield Todo(_unk(key), display, source, bool(explicit), size, mtime, None)

    def record(self, todo: Todo, fp: str, result: dict) -> None:
        """Store one worker result (one transaction)."""
        status = result["status"]
        with self.db:
            if status == "unchanged":  # same bytes, new mtime: keep the stored result
                self.db.execute("UPDATE items SET done_mtime=?, done_size=?, done_explicit=? WHERE key=?",
                                (todo.mtime, todo.size, int(todo.explicit), _k(todo.key)))
                return
            if status == "thumb":  # a thumbnail for a stored result
                self.db.execute("UPDATE items SET thumb=? WHERE key=?", (result.get("thumb"), _k(todo.key)))
                return
            row = result.get("row")
            err = (row or {}).get("error") or {}
            self.db.execute(
                "UPDATE items SET status=?, done_size=?, done_mtime=?, done_fp=?, done_explicit=?, sha256=?, "
                "label=?, error_code=?, result=?, thumb=? WHERE key=?",
                (status, todo.size, todo.mtime, fp, int(todo.explicit), result.get("sha256"),
                 (row or {}).get("verdict", {}).get("label"), err.get("code"),
                 _dumps(row) if row is not None else None, result.get("thumb"), _k(todo.key)))

    # -- report ---------------------------------------------------------------------------------
    def rows(self, scan: int, with_thumbs: bool = False, batch: int = 1000) -> Iterator[tuple[str, str, dict, bytes | None]]:
        """(key, folder, verify object, thumbnail) for every reported input of the scan, in scan order."""
        last = -1
        col = "thumb" if with_thumbs else "NULL"
        while True:
            rows = self.db.execute(
                f"SELECT seq, key, folder, result, {col} FROM items WHERE scan=? AND seq>? AND status='done' "
                "ORDER BY seq LIMIT ?", (scan, last, batch)).fetchall()
            if not rows:
                return
            for seq, key, folder, result, thumb in rows:
                last = seq
                yield _unk(key), folder, _loads(result), thumb

    def counts(self, scan: int) -> dict:
        q = self.db.execute
        total = q("SELECT COUNT(*) FROM items WHERE scan=?", (scan,)).fetchone()[0]
        skipped_by = dict(q("SELECT COALESCE(error_code, 'not_media'), COUNT(*) FROM items WHERE scan=? "
                            "AND status='skipped' GROUP BY 1", (scan,)).fetchall())
        skipped = sum(skipped_by.values())
        labels = dict(q("SELECT label, COUNT(*) FROM items WHERE scan=? AND status='done' GROUP BY label",
                        (scan,)).fetchall())
        errors = dict(q("SELECT error_code, COUNT(*) FROM items WHERE scan=? AND status='done' "
                        "AND error_code IS NOT NULL GROUP BY error_code", (scan,)).fetchall())
        pending = q("SELECT COUNT(*) FROM items WHERE scan=? AND status IS NULL", (scan,)).fetchone()[0]
        return {"inputs": total, "reported": sum(labels.values()), "skipped": skipped, "skipped_by": skipped_by,
                "pending": pending,
                "verdicts": labels, "errors": errors}

    def forget_unlisted(self, scan: int) -> None:
        """Drop inputs that the latest complete scan no longer lists (deleted or moved files)."""
        with self.db:
            self.db.execute("DELETE FROM items WHERE scan != ?", (scan,))
