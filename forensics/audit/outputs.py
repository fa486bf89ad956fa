"""Report writers: JSONL (the verify objects), CSV and Parquet (one flat row per input).

Every writer writes to a temporary file beside its target and renames it into place when complete, so a
report on disk is never half-written, whatever happens to the process.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FLAT_COLUMNS = [
    "path", "folder", "media_type", "verdict", "reasons", "error_code", "error_message",
    "c2pa_present", "c2pa_state", "c2pa_signer", "c2pa_title", "c2pa_digital_source_type", "c2pa_manifest_id",
    "c2pa_recovered_from", "watermarks_detected", "watermark_payloads", "detector_probability_synthetic",
    "detector_label", "detector_model", "generator_text", "sha256",
]


def flatten(row: dict, folder: str | None = None) -> dict[str, Any]:
    """The columns a spreadsheet user filters on; the full object stays in the JSONL."""
    c2pa = row.get("c2pa") or {}
    signer = c2pa.get("signer") or {}
    det = row.get("detector") or {}
    err = row.get("error") or {}
    meta = row.get("metadata") or {}
    wms = [w for w in (row.get("watermarks") or []) if w.get("detected")]
    verdict = row.get("verdict") or {}
    return {
        "path": row.get("path"),
        "folder": folder,
        "media_type": row.get("media_type"),
        "verdict": verdict.get("label"),
        "reasons": " | ".join(verdict.get("reasons") or []),
        "error_code": err.get("code"),
        "error_message": err.get("message"),
        "c2pa_present": bool(c2pa.get("present")),
        "c2pa_state": c2pa.get("state"),
        "c2pa_signer": signer.get("organization") or signer.get("common_name"),
        "c2pa_title": c2pa.get("title"),
        "c2pa_digital_source_type": c2pa.get("digital_source_type"),
        "c2pa_manifest_id": c2pa.get("manifest_id"),
        "c2pa_recovered_from": c2pa.get("recovered_from"),
        "watermarks_detected": ",".join(w.get("scheme", "") for w in wms) or None,
        "watermark_payloads": ",".join(w.get("payload") or "" for w in wms) or None,
        "detector_probability_synthetic": det.get("probability_synthetic"),
        "detector_label": det.get("label"),
        "detector_model": det.get("model"),
        "generator_text": meta.get("generator_text"),
        "sha256": row.get("sha256"),
    }


def _csv_safe(v: Any) -> Any:
    """Spreadsheets execute cells that start with = + - @ (CSV injection): file-derived text is defused."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def _default_mode(path: str) -> None:
    """mkstemp creates 0600 files; a report gets the usual permissions (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def remove_stale_temps(path: str | Path) -> None:
    path = Path(path)
    for tmp in path.parent.glob(glob.escape(path.name) + ".tmp-*"):
        try:
            tmp.unlink()
        except OSError:
            pass


class AtomicFile:
    """Write to ``PATH.tmp-XXXX`` in the same folder, fsync, then rename over PATH."""

    def __init__(self, path: str | Path, mode: str = "w", newline: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=self.path.name + ".tmp-", dir=self.path.parent)
        _default_mode(self.tmp)
        self.fh = os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8", newline=newline)

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.fh.close()
        finally:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass


class JsonlWriter:
    def __init__(self, path):
        self.f = AtomicFile(path)

    def add(self, row: dict, folder: str, thumb: bytes | None) -> None:
        self.f.fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.f.commit()

    def abort(self) -> None:
        self.f.abort()


class CsvWriter:
    def __init__(self, path):
        self.f = AtomicFile(path, newline="")
        self.w = csv.DictWriter(self.f.fh, fieldnames=FLAT_COLUMNS)
        self.w.writeheader()

    def add(self, row: dict, folder: str, thumb: bytes | None) -> None:
        self.w.writerow({k: _csv_safe(v) for k, v in flatten(row, folder).items()})

    def close(self) -> None:
        self.f.commit()

    def abort(self) -> None:
        self.f.abort()


class ParquetWriter:
    """Flat columns plus ``json`` (the full verify object), written in row groups of ``batch`` rows."""

    def __init__(self, path, batch: int = 10_000):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise RuntimeError("--parquet needs pyarrow: pip install 'forensics-suite[parquet]'") from None
        self.pa, self.pq = pa, pq
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=self.path.name + ".tmp-", dir=self.path.parent)
        os.close(fd)
        _default_mode(self.tmp)
        self.schema = pa.schema([
            *(pa.field(c, pa.bool_() if c == "c2pa_present" else
                       pa.float64() if c == "detector_probability_synthetic" else pa.string())
              for c in FLAT_COLUMNS),
            pa.field("json", pa.string()),
        ])
        self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.batch = batch
        self.buf: list[dict] = []

    def add(self, row: dict, folder: str, thumb: bytes | None) -> None:
        flat = flatten(row, folder)
        flat["json"] = json.dumps(row, ensure_ascii=False)
        self.buf.append(flat)
        if len(self.buf) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.buf:
            self.writer.write_table(self.pa.Table.from_pylist(self.buf, schema=self.schema))
            self.buf = []

    def close(self) -> None:
        self._flush()
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.writer.close()
        finally:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
