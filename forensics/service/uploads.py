"""Receiving uploaded files safely.

The body is parsed as it streams in (python-multipart's push parser), written to a temporary file whose
name the server chooses, and cut off with 413 as soon as it passes the limit — a 5 GB upload costs the
server one limit's worth of disk, never more. The client's filename is only ever a display string: it is
reduced to a short, printable base name and never touches the file system.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header

from ..media import sniff

MAX_BOUNDARY = 200  # RFC 2046 allows 70; python-multipart raises beyond 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(filename: str | None, default: str = "upload") -> str:
    """A harmless label for a client-supplied filename: base name only, no control or bidi characters,
    at most 120 characters. It is shown to people (escaped), never used as a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip().lstrip(".")
    return (name[:120] or default)


@dataclass
class Upload:
    path: Path  # server-chosen temporary file; the caller deletes it (``discard``)
    filename: str  # display only
    size: int
    media_type: str | None  # sniffed from the content

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload larger than the {limit // (1024 * 1024)} MB limit")


async def receive_upload(request: Request, *, limit: int, field: str = "file", allow_raw: bool = False,
                         tmp_dir: str | None = None) -> Upload:
    """Stream the request body into a temp file. Multipart: the part named ``field``. With ``allow_raw``,
    a non-multipart body (e.g. ``Content-Type: image/jpeg``) is the file itself."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit + 64 * 1024:  # multipart framing adds a little
                raise _too_large(limit)
        except ValueError:
            raise HTTPException(400, "bad Content-Length") from None
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    multipart = ctype == b"multipart/form-data"
    if not multipart and not allow_raw:
        raise HTTPException(415, f"send the file as multipart/form-data in a field named '{field}'")
    boundary = params.get(b"boundary")
    if multipart and not boundary:
        raise HTTPException(400, "multipart body without a boundary")
    if multipart and len(boundary) > MAX_BOUNDARY:  # RFC 2046: 1-70 characters
        raise HTTPException(400, f"multipart boundary longer than {MAX_BOUNDARY} characters")

    fd, name = tempfile.mkstemp(prefix="forensics-upload-", dir=tmp_dir)
    out = os.fdopen(fd, "wb")
    state = {"size": 0, "in_field": False, "seen": False, "filename": None,
             "hname": b"", "hvalue": b"", "headers": {}, "head": b""}

    def write(data: bytes) -> None:
        state["size"] += len(data)
        if state["size"] > limit:
            raise _too_large(limit)
        if len(state["head"]) < 64:
            state["head"] += data[:64 - len(state["head"])]
        out.write(data)

    try:
        if multipart:
            def on_header_field(data, start, end):
                state["hname"] += data[start:end]

            def on_header_value(data, start, end):
                state["hvalue"] += data[start:end]

            def on_header_end():
                state["headers"][state["hname"].lower()] = state["hvalue"]
                state["hname"], state["hvalue"] = b"", b""

            def on_headers_finished():
                _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
                state["in_field"] = disp.get(b"name") == field.encode() and not state["seen"]
                if state["in_field"]:
                    state["seen"] = True
                    fn = disp.get(b"filename")
                    state["filename"] = fn.decode("utf-8", "replace") if fn else None

            def on_part_data(data, start, end):
                if state["in_field"]:
                    write(data[start:end])

            def on_part_end():
                state["in_field"] = False
                state["headers"] = {}

            try:
                parser = MultipartParser(boundary, {
                    "on_header_field": on_header_field, "on_header_value": on_header_value,
                    "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
                    "on_part_data": on_part_data, "on_part_end": on_part_end})
            except Exception:  # python-multipart refuses some boundaries (ValueError)
                raise HTTPException(400, "malformed multipart boundary") from None
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit + 64 * 1024:  # junk parts beside the file count too
                    raise _too_large(limit)
                try:
                    parser.write(chunk)
                except HTTPException:
                    raise
                except Exception:
                    raise HTTPException(400, "malformed multipart body") from None
            try:
                parser.finalize()
            except Exception:
                raise HTTPException(400, "malformed multipart body") from None
            if not state["seen"]:
                raise HTTPException(400, f"no file in the multipart field '{field}'")
        else:
            async for chunk in request.stream():
                write(chunk)
        out.close()
        if state["size"] == 0:
            raise HTTPException(400, "the uploaded file is empty")
        return Upload(Path(name), display_name(state["filename"]), state["size"], sniff(state["head"]))
    except BaseException:
        out.close()
        os.unlink(name)
        raise
