"""Invisible watermarks (C2PA soft binding): one interface over every scheme.

>>> from forensics.provenance import watermark as wm
>>> marked = wm.embed(rgb_uint8, bytes.fromhex("0123456789ab"))
>>> [d.payload for d in wm.detect(marked) if d.detected]
['0123456789ab']

Schemes live in a registry (like timm's models): :func:`register_scheme`, :func:`get_scheme`,
:func:`list_schemes`. The default scheme (:data:`DEFAULT_SCHEME`) carries :data:`PAYLOAD_BYTES` bytes —
the manifest repository's soft-binding ID. Detection never imports torch (rivaGan, which needs it, only
runs when named explicitly).
"""
from __future__ import annotations

from typing import Any, Callable

from ...errors import WatermarkError
from ...report import WatermarkDetection
from .base import WatermarkScheme, embed_image, to_rgb

DEFAULT_SCHEME = "fsw-v2"
PAYLOAD_BYTES = 6
# Schemes whose payload is a manifest repository's soft-binding ID: the one new marks are issued with
# first, then every earlier version, whose marks must keep resolving.
SOFT_BINDING_SCHEMES = ("fsw-v2", "fsw-v1")

_REGISTRY: dict[str, Callable[[], WatermarkScheme]] = {}
_INSTANCES: dict[str, WatermarkScheme] = {}
# Schemes detect() runs when none are named: fast, and meaningful without knowing the payload.
_DEFAULT_DETECT: list[str] = []


def register_scheme(name: str, factory: Callable[[], WatermarkScheme], *, default_detect: bool = False) -> None:
    """Register a scheme factory under ``name`` (``default_detect``: run by ``detect(schemes=None)``)."""
    _REGISTRY[name] = factory
    _INSTANCES.pop(name, None)
    if default_detect and name not in _DEFAULT_DETECT:
        _DEFAULT_DETECT.append(name)


def list_schemes(*, embeddable: bool | None = None) -> list[str]:
    names = list(_REGISTRY)
    if embeddable is None:
        return names
    return [n for n in names if get_scheme(n).embeddable == embeddable]


def default_detect_schemes() -> list[str]:
    return list(_DEFAULT_DETECT)


def get_scheme(name: str | None = None) -> WatermarkScheme:
    name = name or DEFAULT_SCHEME
    if name not in _REGISTRY:
        raise WatermarkError(f"unknown watermark scheme {name!r}; known: {', '.join(_REGISTRY)}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


def embed(image: Any, payload: bytes | str, scheme: str | None = None, strength: float | None = None) -> Any:
    """Embed ``payload`` and return an image of the same type (PIL mode / numpy shape, alpha kept)."""
    s = get_scheme(scheme)
    if not s.embeddable:
        raise WatermarkError(f"scheme {s.name} is detect-only (a third-party mark)")
    return embed_image(image, s, s.check_payload(payload), strength)


def detect(image: Any, schemes: list[str] | None = None, fpr: float = 1e-6,
           expected: bytes | str | None = None, search_geometry: bool = True,
           exhaustive: bool = True) -> list[WatermarkDetection]:
    """One :class:`WatermarkDetection` per scheme tried (``detected`` says whether it is there at ``fpr``).

    ``search_geometry=False``: the fsw schemes decode their nominal lattice only (resizes, compression,
    filters, colour edits and crops are still found; rotation, aspect and perspective are not) — the
    audit's quick profile. The reported false-positive probability counts only the hypotheses tried.
    ``exhaustive=False``: the fsw schemes run a cheaper search — fsw-v2 without its rotation / aspect /
    perspective sweep (~1 s on an unmarked image) but with fsw-v1's search, fsw-v1 at its nominal lattice
    only — what verify and the full audit do on every file unless asked.

    ``expected``: a payload to *verify* rather than read blindly; schemes without error correction
    (dwtDct, dwtDctSvd, rivaGan) can only be calibrated that way.
    """
    if not 0 < fpr < 1:
        raise WatermarkError(f"fpr must be in (0, 1), got {fpr}")
    rgb = to_rgb(image)
    exp = None
    if expected is not None:
        try:
            exp = bytes.fromhex(expected) if isinstance(expected, str) else bytes(expected)
        except ValueError:
            raise WatermarkError(f"expected payload {expected!r} is not hex") from None
    out = []
    with _compat.shared_reads():
        for name in schemes if schemes is not None else default_detect_schemes():
            s = get_scheme(name)
            kw = {"search_geometry": search_geometry} if s.geometry_search else {}
            if s.exhaustive_search:
                kw["exhaustive"] = exhaustive
            out.append(s.detect_rgb(rgb, fpr=fpr, expected=exp, **kw))
    return out


def _fsw():
    from .fsw import FSWScheme

    return FSWScheme()


def _fsw2():
    from .fsw2 import FSW2Scheme

    return FSW2Scheme()


# the scheme new marks are issued with first: reports list it first, and a file it is found in is not
# searched again for the older version (they carry the same ID)
register_scheme("fsw-v2", _fsw2, default_detect=True)
register_scheme("fsw-v1", _fsw, default_detect=True)

from . import compat as _compat  # noqa: E402  (registers invisible-watermark schemes and third-party marks)

_compat.register_all(register_scheme)

__all__ = [
    "DEFAULT_SCHEME", "PAYLOAD_BYTES", "SOFT_BINDING_SCHEMES", "WatermarkDetection", "WatermarkError", "WatermarkScheme",
    "default_detect_schemes", "detect", "embed", "get_scheme", "list_schemes", "register_scheme",
]
