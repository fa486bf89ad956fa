"""The per-file function, identical for the local pool and Ray actors.

A :class:`WorkerState` lives as long as its worker process: it loads the analysers (and their models) once,
warms them up on a tiny image, then caps the process's address space so that one huge or hostile file can
only break its own row. :meth:`WorkerState.process` never raises: every outcome is a result dict.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..analysers import VerifyOptions
from ..config import DEFAULT_MAX_BYTES

# Walking a folder keeps files whose *content* is an image or video, plus files whose name claims to be one
# (so a text file called photo.jpg gets an error row instead of silently vanishing).
MEDIA_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".avif", ".gif", ".heic", ".heif",
                  ".bmp", ".mp4", ".m4v", ".mov"}
THREAD_ENV = ("FORENSICS_DETECTOR_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")


# How running out of the capped address space shows up in analyser errors: Python's MemoryError, and the
# messages of native libraries (onnxruntime, OpenCV, C++ bad_alloc) that Verifier reports as text.
_OOM = re.compile(r"MemoryError|bad_alloc|[Ff]ailed to allocate|Cannot allocate memory|Insufficient memory|"
                  r"out of memory", re.I)


@dataclass
class WorkerConfig:
    options: VerifyOptions = field(default_factory=VerifyOptions)
    analysers: list[str] | None = None  # "module:Class" specs; None = the default registry
    memory_per_file: int | None = 2048 * 1024**2  # bytes of address space on top of the warmed-up worker
    storage_options: dict = field(default_factory=dict)  # fsspec options for remote inputs
    thumbnails: bool = False
    thumb_side: int = 96
    profile: str = "full"  # written into every row ("quick": the screening profile)

    @property
    def max_bytes(self) -> int:
        return self.options.max_bytes or DEFAULT_MAX_BYTES


def printable(s: str) -> str:
    """Text safe to write as UTF-8: an undecodable byte of a file name (``surrogateescape``) becomes a
    visible ``\\xe9`` escape."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def clean(obj):
    """``printable`` applied to every string of a JSON-like object (report rows quote paths in messages)."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def error_row(display: str, code: str, message: str, media_type: str | None = None) -> dict:
    """A verify JSON object for an input that could not be processed (same shape as every other row)."""
    from ..report import ErrorInfo, Report
    from ..verdict import decide

    r = Report(path=printable(display), media_type=media_type, error=ErrorInfo(code, printable(message)))
    r.verdict = decide(r)
    return r.to_json()


def limit_threads() -> None:
    """One file per process at a time: libraries must not each start a thread per core."""
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")


class WorkerState:
    def __init__(self, config: WorkerConfig, warm_up: bool = True):
        from ..analysers import load_analysers
        from ..verify import Verifier

        self.config = config
        analysers = load_analysers(config.analysers) if config.analysers is not None else None
        self.verifier = Verifier(config.options, analysers=analysers)
        self.recycle = False  # set after a MemoryError: the worker should be replaced
        self.memory_cap: int | None = None
        try:
            import cv2

            cv2.setNumThreads(1)
        except Exception:  # pragma: no cover - cv2 is a dependency, but never fail a worker for it
            pass
        if warm_up:
            self._warm_up()
        if config.memory_per_file:
            self._cap_memory(config.memory_per_file)

    def _warm_up(self) -> None:
        """Load every model now (analysers load lazily), so the memory cap measures files, not models."""
        from PIL import Image
        import numpy as np

        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory(prefix="forensics-warm-") as d:
            p = Path(d) / "warm.png"
            Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(p)
            try:
                self.verifier.verify(p)
            except Exception:  # a broken analyser shows up per file later; warm-up is best effort
                pass

    def _cap_memory(self, per_file: int) -> None:
        from ..resources import set_memory_cap

        cap = set_memory_cap(per_file)
        if cap is not None:
            self.memory_cap = cap

    # -- one file ---------------------------------------------------------------------------------
    def process(self, todo) -> dict:
        """Audit one input. Returns {"status": done|skipped|unchanged, "sha256", "row", "thumb", "ms"}."""
        t0 = time.perf_counter()
        try:
            if todo.source == "fsspec":
                out = self._remote(todo)
            else:
                out = self._local(todo, Path(todo.key), todo.display)
        except MemoryError:
            self.recycle = True
            out = {"status": "done", "row": error_row(todo.display, "too_large", self._oom_message())}
        except Exception as exc:  # never lose the batch to one file
            out = {"status": "done",
                   "row": error_row(todo.display, "internal", f"{type(exc).__name__}: {exc}")}
        if out.get("row") is not None:
            out["row"] = clean(out["row"])
            out["row"]["profile"] = self.config.profile
        out["ms"] = (time.perf_counter() - t0) * 1000
        return out

    def _oom_message(self) -> str:
        mib = (self.config.memory_per_file or 0) // 1024**2
        return f"exceeded the per-file memory cap ({mib} MiB) while analysing; nothing else was affected"

    def _local(self, todo, path: Path, display: str, head: bytes | None = None) -> dict:
        from ..media import sniff

        try:
            st = os.stat(path)
            regular = stat.S_ISREG(st.st_mode)  # never open a FIFO or a device: it could block forever
        except OSError:
            st, regular = None, False  # the verifier reports not_found / unreadable with the right code
        if head is None:
            head = b""
            if regular:
                try:
                    with open(path, "rb") as fh:
                        head = fh.read(64)
                except OSError:
                    pass
        if not todo.explicit and sniff(head) is None and Path(display).suffix.lower() not in MEDIA_SUFFIXES:
            return {"status": "skipped"}
        if todo.thumb_only:  # the stored result stands (same size and mtime); only the thumbnail is new
            kind = sniff(head)
            return {"status": "thumb", "thumb": self._thumbnail(path, kind) if regular and kind else None}
        sha = _sha256(path) if regular and st.st_size <= self.config.max_bytes else None
        if sha is not None and todo.known_hash == sha:
            return {"status": "unchanged", "sha256": sha}
        report = self.verifier.verify(path, display_path=display)
        oom = [e for e in report.analyser_errors if _OOM.search(e.get("message", ""))]
        if oom:
            from ..report import ErrorInfo
            from ..verdict import decide

            self.recycle = True
            report.error = ErrorInfo("too_large", self._oom_message())
            report.verdict = decide(report)
        row = report.to_json()
        if sha is not None:
            row["sha256"] = sha
        thumb = self._thumbnail(path, report.media_type) if self.config.thumbnails and report.error is None else None
        return {"status": "done", "sha256": sha, "row": row, "thumb": thumb}

    def _remote(self, todo) -> dict:
        """Download to a temp file with a generated name (never the remote name), bounded in size."""
        import fsspec

        from ..media import EXTENSIONS, sniff

        limit = self.config.max_bytes
        if todo.size is not None and todo.size > limit:
            return {"status": "done", "row": error_row(
                todo.display, "too_large", f"{todo.display} is {todo.size} bytes, over the {limit}-byte limit")}
        try:
            fs, path = fsspec.core.url_to_fs(todo.key, **self.config.storage_options)
            with fs.open(path, "rb") as src:
                head = src.read(64)
                kind = sniff(head)
                if not todo.explicit and kind is None and Path(path).suffix.lower() not in MEDIA_SUFFIXES:
                    return {"status": "skipped"}
                fd, tmp = tempfile.mkstemp(prefix="forensics-audit-", suffix=EXTENSIONS.get(kind or "", ".bin"))
                try:
                    with os.fdopen(fd, "wb") as dst:
                        dst.write(head)
                        n = len(head)
                        while chunk := src.read(1 << 20):
                            n += len(chunk)
                            if n > limit:
                                return {"status": "done", "row": error_row(
                                    todo.display, "too_large", f"{todo.display} is over the {limit}-byte limit")}
                            dst.write(chunk)
                    return self._local(todo, Path(tmp), todo.display, head=head)
                finally:
                    os.unlink(tmp)
        except FileNotFoundError:
            return {"status": "done", "row": error_row(todo.display, "not_found", f"no such object: {todo.display}")}
        except (OSError, ValueError, ImportError) as exc:
            return {"status": "done", "row": error_row(
                todo.display, "unreadable", f"cannot read {todo.display}: {type(exc).__name__}: {exc}")}

    def _thumbnail(self, path: Path, media_type: str | None) -> bytes | None:
        """A small JPEG for the HTML report. Runs only after the verifier accepted the file (bomb guard)."""
        import io

        try:
            from PIL import Image

            side = self.config.thumb_side
            if media_type and media_type.startswith("video/"):
                import cv2

                cap = cv2.VideoCapture(str(path))
                ok, frame = cap.read()
                cap.release()
                if not ok:
                    return None
                img = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            else:
                img = Image.open(path)
                img.draft("RGB", (side * 2, side * 2))  # JPEG: decode at reduced scale, much faster
                img.seek(0)
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=70)
            return buf.getvalue()
        except Exception:  # a thumbnail is decoration: never an error
            return None


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def config_dict(config: WorkerConfig) -> dict:
    return asdict(config)
