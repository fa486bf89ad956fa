"""Turning the command line's PATHs into a stream of inputs: files, folders, globs and fsspec URLs.

The scan only lists (stat / object listing); deciding whether a file found in a folder is an image or a
video is done by the workers from its first bytes, so scanning a million-file archive stays I/O-cheap and
the content sniffing runs in parallel.
"""
from __future__ import annotations

import errno
import glob
import os
import re
import stat
from pathlib import Path
from typing import Iterator

from .state import Item
from .worker import MEDIA_SUFFIXES, printable

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[]")


def is_url(arg: str) -> bool:
    return bool(_URL.match(arg)) and not arg.startswith("file://")


def scan(inputs: list[str], storage_options: dict | None = None, exclude: set[str] | None = None) -> Iterator[Item]:
    """Items in argument order. ``exclude``: absolute paths never listed from folders (the audit's own
    report and state files, when they are written inside the audited folder)."""
    own = exclude or set()
    for arg in inputs:
        if arg.startswith("file://"):
            arg = arg[len("file://"):]
        if is_url(arg):
            yield from _scan_remote(arg, storage_options or {})
        else:
            for item in _scan_local(arg):
                if item.explicit or item.key not in own:
                    yield item


# -- local ----------------------------------------------------------------------------------------------

def _local_item(path: str, explicit: bool) -> Item:
    key = os.path.abspath(path)  # may hold undecodable bytes (surrogateescape): used to open the file
    display = printable(os.path.normpath(path))  # what the report shows
    try:
        st = os.stat(path)
        size, mtime = st.st_size, str(st.st_mtime_ns)
    except OSError:
        size = mtime = None  # the worker turns this into a not_found / unreadable row
    return Item(key=key, display=display, folder=os.path.dirname(display) or ".", source="local",
                explicit=explicit, size=size, mtime=mtime)


def _found(path: str) -> Item:
    """A name found in a folder or by a glob. Regular files (also through symlinks) go to the workers; what
    cannot be opened as a file is judged here from ``stat`` alone — a FIFO or device is never opened (it
    could block forever). Such an entry whose name looks like media gets an error row; any other is
    counted as skipped, so nothing vanishes silently."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            code, why = "unreadable", "is a symbolic link loop"
        elif os.path.islink(path):
            code, why = "not_found", f"is a broken symbolic link (its target {_link_target(path)} does not exist)"
        else:
            code, why = "unreadable", f"cannot be accessed: {exc.strerror or exc}"
    else:
        if stat.S_ISREG(st.st_mode):
            return _local_item(path, explicit=False)
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        code, why = "unsupported", f"is {kind}, not a regular file; it was not opened"
    item = _local_item(path, explicit=False)
    item.source = "error"
    if Path(path).suffix.lower() in MEDIA_SUFFIXES:
        item.error = (code, printable(f"{os.path.normpath(path)} {why}"))
    else:
        item.skip = "not_regular"
    return item


def _link_target(path: str) -> str:
    try:
        return printable(os.readlink(path))
    except OSError:
        return "?"


def _walk(root: str) -> Iterator[Item]:
    """Every regular file under ``root``, sorted (a stable report order), hidden folders skipped.

    A folder that cannot be read gets its own error row instead of silently vanishing from the report.
    """
    unreadable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable.append, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield _found(os.path.join(dirpath, name))
        while unreadable:
            exc = unreadable.pop()
            where = exc.filename or dirpath
            yield _error_item(str(where), "unreadable", f"cannot read folder {where}: {exc.strerror or exc}")
    for exc in unreadable:
        where = exc.filename or root
        yield _error_item(str(where), "unreadable", f"cannot read folder {where}: {exc.strerror or exc}")


def _scan_local(arg: str) -> Iterator[Item]:
    if os.path.isdir(arg):
        n = 0
        for item in _walk(arg):
            n += 1
            yield item
        if n == 0:
            yield _error_item(arg, "not_found", f"folder {arg} contains no files")
    elif not os.path.lexists(arg) and _GLOB.search(arg):
        n = 0
        for match in sorted(glob.iglob(arg, recursive=True)):
            if os.path.isdir(match):
                for item in _walk(match):
                    n += 1
                    yield item
            elif os.path.lexists(match):
                n += 1
                yield _found(match)
        if n == 0:
            yield _error_item(arg, "not_found", f"no files match {arg}")
    else:
        yield _local_item(arg, explicit=True)  # a named file (or a missing one: it still gets its row)


def _error_item(arg: str, code: str, message: str) -> Item:
    return Item(key="input:" + arg, display=printable(arg), folder=printable(arg), source="error", explicit=True,
                error=(code, printable(message)))


# -- fsspec -----------------------------------------------------------------------------------------------

def _version(info: dict) -> str | None:
    """What tells us the object changed: ETag, or a modification time, whatever the backend reports."""
    for k in ("ETag", "etag", "LastModified", "mtime", "last_modified", "updated", "md5Hash"):
        if info.get(k) is not None:
            return str(info[k])
    return None


def _walk_remote(fs, root: str) -> Iterator[tuple[str, dict]]:
    """(path, info) of every object under ``root``, one listing per "folder" (so memory is bounded by the
    largest folder, not the bucket), folders and objects sorted for a stable report order."""
    for _dirpath, dirs, files in fs.walk(root, detail=True):
        ordered = sorted(dirs.items())
        dirs.clear()
        dirs.update(ordered)  # topdown walk: the order we leave here is the order it descends in
        for name in sorted(files):
            info = files[name]
            if info.get("type", "file") != "directory":
                yield info.get("name") or name, info


def _scan_remote(arg: str, storage_options: dict) -> Iterator[Item]:
    proto = arg.split("://", 1)[0]
    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(arg, **storage_options)
    except ImportError as exc:
        yield _error_item(arg, "unsupported", f"no fsspec backend installed for {proto}:// ({exc})")
        return
    except Exception as exc:  # unknown protocol, bad options…: that input's row, not a crash
        yield _error_item(arg, "unsupported", f"cannot open {arg}: {type(exc).__name__}: {exc}")
        return

    def item(path: str, info: dict, explicit: bool) -> Item:
        url = fs.unstrip_protocol(path)
        folder = url.rsplit("/", 1)[0] if "/" in path else url
        return Item(key=url, display=url, folder=folder, source="fsspec", explicit=explicit,
                    size=info.get("size"), mtime=_version(info))

    try:
        if _GLOB.search(root):
            found = fs.glob(root, detail=True)
            n = 0
            for path in sorted(found):
                info = found[path]
                if info.get("type") == "directory":
                    for p, pinfo in _walk_remote(fs, path):
                        n += 1
                        yield item(p, pinfo, explicit=False)
                else:
                    n += 1
                    yield item(path, info, explicit=False)
            if n == 0:
                yield _error_item(arg, "not_found", f"no objects match {arg}")
        elif fs.isdir(root):
            n = 0
            for path, info in _walk_remote(fs, root):
                n += 1
                yield item(path, info, explicit=False)
            if not n:
                yield _error_item(arg, "not_found", f"{arg} contains no objects")
        else:
            yield item(root, fs.info(root), explicit=True)
    except FileNotFoundError:
        yield _error_item(arg, "not_found", f"no such object or prefix: {arg}")
    except Exception as exc:  # credentials, network, permissions: that input's row, not a crash
        yield _error_item(arg, "unreadable", f"cannot list {arg}: {type(exc).__name__}: {exc}")
