"""The Python API: :func:`verify` and :func:`sign` for a path, bytes or a binary file object.

The same pipeline as ``forensics verify`` / ``forensics sign``: ``verify(...).to_dict()`` is one object of
``forensics verify --json``. Argument mistakes raise ``TypeError`` / ``ValueError`` (one :func:`check_inputs`
per entry point); a bad *file* is not an exception but the report's ``error`` entry, as on the command line.
"""
from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Union

from .config import DEFAULT_MAX_BYTES
from .errors import MediaError, TooLarge

if TYPE_CHECKING:  # pragma: no cover
    from .report import Report

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
BYTES_NAME = "<bytes>"

_local = threading.local()  # one Verifier per thread and option set (a Verifier is not thread-safe)


def _is_path(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike))


def _is_file(source: Any) -> bool:
    return callable(getattr(source, "read", None))


def _check_source(source: Any) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ValueError("source is empty (0 bytes)")
        return
    if _is_path(source):
        if os.fspath(source) == "":
            raise ValueError("source path is empty")
        return
    if _is_file(source):
        mode = getattr(source, "mode", "b")  # open() files say "rb"; other readers may not say (or use ints)
        if isinstance(source, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
            raise TypeError("source is a text file object; open the file in binary mode ('rb')")
        return
    raise TypeError(f"source must be a path (str or os.PathLike), bytes or a binary file object, "
                    f"not {type(source).__name__}")


def _check_paths(name: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} is a sequence of PEM paths; wrap a single path in a list: {name}=[{value!r}]")
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of PEM paths, not {type(value).__name__}")
    out = []
    for item in value:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"{name} entries must be paths (str or os.PathLike), not {type(item).__name__}")
        out.append(os.fspath(item))
    return out


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def check_inputs(source: Any, *, detector: Any = True, trust_anchors: Any = (), registry: Any = None,
                 allow_network: Any = False) -> tuple[list[str], str | None]:
    """Validate :func:`verify`'s arguments; return the anchor paths and registry URL as strings.

    Raises ``TypeError`` / ``ValueError`` with a message that names the argument. The file itself is not
    opened here: what is wrong with it is the report's error entry.
    """
    _check_source(source)
    _check_flag("detector", detector)
    _check_flag("allow_network", allow_network)
    anchors = _check_paths("trust_anchors", trust_anchors)
    if registry is not None and not isinstance(registry, (str, os.PathLike)):
        raise TypeError(f"registry must be a SQLAlchemy URL or a SQLite path, not {type(registry).__name__}")
    registry_url = os.fspath(registry) if registry is not None else None
    if registry_url == "":
        raise ValueError("registry is empty; pass None for the default manifest repository")
    return anchors, registry_url


def source_name(source: Source) -> str:
    """What the report calls ``source``: the path, a file object's ``name``, or ``<bytes>``."""
    if _is_path(source):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return os.fspath(name) if isinstance(name, (str, os.PathLike)) else BYTES_NAME


def read_source(source: Source, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an in-memory source (bytes or a binary file object), refusing more than ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            raise TypeError("source is a text file object; open the file in binary mode ('rb')")
        data = bytes(data or b"")
    if len(data) > max_bytes:
        raise TooLarge(f"{source_name(source)} is over the {max_bytes}-byte limit")
    return data


@contextmanager
def materialised(source: Source, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Path]:
    """A path for ``source``: the path itself, or a private temporary copy of bytes / a file object.

    The pipeline opens files by path (content sniffing, size and pixel guards, c2pa's readers), so
    in-memory sources take the same road as files on disk and get the same answers.
    """
    if _is_path(source):
        yield Path(source)
        return
    from .media import EXTENSIONS, sniff

    data = read_source(source, max_bytes)
    # a matching suffix for readers that go by name (OpenCV's video backends); the type is still sniffed
    fd, name = tempfile.mkstemp(prefix="forensics-", suffix=EXTENSIONS.get(sniff(data[:64]) or "", ""))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield Path(name)
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def _verifier(detector: bool, anchors: list[str], registry_url: str | None, allow_network: bool):
    from .analysers import VerifyOptions
    from .verify import Verifier

    key = (detector, tuple(anchors), registry_url, allow_network, os.environ.get("FORENSICS_HOME"))
    cache = getattr(_local, "verifiers", None)
    if cache is None:
        cache = _local.verifiers = {}
    if key not in cache:
        cache.clear()  # one live option set per thread: models stay loaded across calls, not across configs
        cache[key] = Verifier(VerifyOptions(trust_anchors=list(anchors), registry_url=registry_url,
                                            detector=detector, allow_network=allow_network))
    return cache[key]


def verify(source: Source, *, detector: bool = True, trust_anchors: Iterable[str | os.PathLike] = (),
           registry: str | os.PathLike | None = None, allow_network: bool = False) -> "Report":
    """Verify one image or video: credentials, watermarks, detector, metadata and one verdict.

    ``source``: a path, ``bytes`` or a binary file object (read to the end; the report's ``path`` is its
    ``name`` if it has one, else ``"<bytes>"``). The media type is sniffed from the content, never from a
    name. ``trust_anchors``: extra PEM bundles, on top of ``$FORENSICS_TRUST_ANCHORS`` and the anchors
    ``forensics keys init`` registered (a bad bundle raises :class:`~forensics.errors.ConfigError`).
    ``registry``: the manifest repository (SQLAlchemy URL or SQLite path; default ``$FORENSICS_REGISTRY``).
    """
    from .config import trust_anchor_paths
    from .provenance.credentials import load_trust_anchors
    from .report import ErrorInfo, Report
    from .verdict import decide

    anchors, registry_url = check_inputs(source, detector=detector, trust_anchors=trust_anchors,
                                         registry=registry, allow_network=allow_network)
    load_trust_anchors(trust_anchor_paths(anchors))  # a bad bundle is a usage error, as on the command line
    verifier = _verifier(detector, anchors, registry_url, allow_network)
    name = source_name(source)
    try:
        with materialised(source, verifier.options.max_bytes or DEFAULT_MAX_BYTES) as path:
            return verifier.verify(path, display_path=name)
    except MediaError as exc:  # too large to read into memory: the same error entry as for a file
        report = Report(path=name, error=ErrorInfo(exc.code, exc.message))
        report.verdict = decide(report)
        return report


# --- signing ------------------------------------------------------------------------------------

@dataclass
class Signed:
    """What :func:`sign` made: the signed bytes (also written to ``output`` when one was given)."""

    data: bytes
    manifest_id: str
    media_type: str
    output: Path | None = None
    parent_ingredient: bool = False  # the input's own credentials became the parent ingredient


def check_sign_inputs(source: Any, output: Any, cert: Any, key: Any, title: Any, actions: Any,
                      digital_source_type: Any) -> list[str]:
    """Validate :func:`sign`'s arguments; return the action names."""
    _check_source(source)
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"output must be a path or None, not {type(output).__name__}")
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together: pass both, or neither for the `forensics keys init` key")
    for name, value in (("cert", cert), ("key", key)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a PEM path, not {type(value).__name__}")
    for name, value in (("title", title), ("digital_source_type", digital_source_type)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if isinstance(actions, str):
        actions = [actions]
    if not isinstance(actions, Iterable) or not all(isinstance(a, str) and a.strip() for a in actions):
        raise TypeError("action must be a string or a sequence of non-empty strings, e.g. 'c2pa.edited'")
    return list(actions)


def sign(source: Source, output: str | os.PathLike | None = None, *, cert: str | os.PathLike | None = None,
         key: str | os.PathLike | None = None, title: str | None = None,
         action: str | Iterable[str] = (), digital_source_type: str | None = None,
         alg: str = "es256") -> Signed:
    """Add a C2PA manifest, as ``forensics sign``: existing credentials become the parent ingredient.

    ``cert``/``key``: PEM chain and private key (default: the key ``forensics keys init`` made).
    ``digital_source_type``: an IPTC URI or just its term (``digitalCapture``, ``trainedAlgorithmicMedia``).
    ``action``: one or more action names (``c2pa.edited`` or ``edited``). Errors (no key, unreadable input,
    unsupported format) raise :class:`~forensics.errors.ForensicsError` subclasses.
    """
    from .cli.sign import action_name, source_type_uri
    from .media import Media
    from .provenance.signing import SigningIdentity, has_credentials, sign_bytes

    actions = check_sign_inputs(source, output, cert, key, title, action, digital_source_type)
    identity = SigningIdentity.from_files(cert, key, alg=alg) if cert is not None else SigningIdentity.default()
    name = source_name(source)
    dst = source_type_uri(digital_source_type)
    acts = [{"action": action_name(a)} for a in actions] or None
    if acts and dst and not any(a["action"] in ("c2pa.created", "c2pa.opened") for a in acts):
        acts.insert(0, {"action": "c2pa.created"})
    with materialised(source) as path:
        media = Media.open(path)
        data = media.data
    parent = has_credentials(data, media.media_type)
    default_title = Path(name).name if name != BYTES_NAME else None
    asset = sign_bytes(data, media.media_type, identity=identity, title=title or default_title, actions=acts,
                       digital_source_type=dst, parent=data if parent else None,
                       parent_media_type=media.media_type if parent else None, parent_title=default_title)
    out = None
    if output is not None:
        out = Path(output)
        out.write_bytes(asset.data)
    return Signed(asset.data, asset.manifest_id, media.media_type, out, parent)
