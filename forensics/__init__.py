"""forensics: where did this image or video come from, and did a machine make it?

    import forensics
    report = forensics.verify("photo.jpg")       # a path, bytes or a binary file object
    report.verdict.label                          # VerdictLabel.AUTHENTIC_CREDENTIALS == "authentic-credentials"
    report.to_dict()                              # one object of `forensics verify --json`

Importing this package is light: every name below loads on first use, and nothing here changes process-wide
state (Pillow's ``MAX_IMAGE_PIXELS`` stays the host application's). See docs/python.md.
"""
from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers treat the name alike)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # verify
    "verify", "Report", "Verdict", "VerdictLabel", "ErrorInfo",
    "CredentialsFinding", "Status", "Signer", "WatermarkFinding", "WatermarkDetection", "DetectorFinding",
    "FramesFinding", "MetadataFinding",
    # sign
    "sign", "Signed",
    # watermark (module: forensics.watermark.embed / detect)
    "watermark",
    # generate (needs the [generate] extra)
    "Generator", "load_generator", "GenerationRequest", "GeneratedImage",
    # errors
    "ForensicsError", "MediaError", "ConfigError", "MissingExtra",
]

# name -> "module:attribute" (attribute empty: the module itself)
_LAZY = {
    "sign": "forensics.api:sign",
    "Signed": "forensics.api:Signed",
    "watermark": "forensics.watermark:",
    "GenerationRequest": "forensics.generate.types:GenerationRequest",
    "GeneratedImage": "forensics.generate.types:GeneratedImage",
    "ForensicsError": "forensics.errors:ForensicsError",
    "MediaError": "forensics.errors:MediaError",
    "ConfigError": "forensics.errors:ConfigError",
    "MissingExtra": "forensics.extras:MissingExtra",
    **{name: f"forensics.report:{name}" for name in (
        "Report", "Verdict", "VerdictLabel", "ErrorInfo", "CredentialsFinding", "Status", "Signer",
        "WatermarkFinding", "WatermarkDetection", "DetectorFinding", "FramesFinding", "MetadataFinding")},
}
# these need torch and diffusers: without them, placeholders that raise MissingExtra with the pip line
_GENERATE = {"Generator": "forensics.generate.pipeline:Generator",
             "load_generator": "forensics.generate.pipeline:load_generator"}
_GENERATE_MODULES = ("torch", "diffusers", "transformers")


def verify(source: Source, *, detector: bool = True, trust_anchors: Iterable[str | os.PathLike] = (),
           registry: str | os.PathLike | None = None, allow_network: bool = False) -> Report:
    """Verify one image or video (a path, bytes or a binary file object) → :class:`Report`.

    See :func:`forensics.api.verify`; ``verify(...).to_dict()`` is one object of ``forensics verify --json``.
    """
    from .api import verify as _verify

    return _verify(source, detector=detector, trust_anchors=trust_anchors, registry=registry,
                   allow_network=allow_network)


class _Package(types.ModuleType):
    """``forensics.verify`` is the function above, also once the pipeline module of the same name is imported.

    Importing a submodule binds it on its package; the pipeline stays importable by its full name
    (``from forensics.verify import Verifier``), only the package attribute keeps meaning the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "verify" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def _placeholder(name: str) -> Any:
    from .extras import MissingExtra, has

    missing = next(m for m in _GENERATE_MODULES if not has(m))
    feature = f"forensics.{name}"

    def fail(*_args: Any, **_kwargs: Any):
        raise MissingExtra("generate", feature, missing)

    if name == "load_generator":
        fail.__name__ = fail.__qualname__ = name
        return fail

    class _Meta(type):
        def __call__(cls, *args: Any, **kwargs: Any):
            fail()

        def __getattr__(cls, attr: str):
            if attr.startswith("__"):
                raise AttributeError(attr)
            fail()

    return _Meta(name, (), {"__doc__": f"Placeholder: {feature} needs the 'generate' extra.",
                            "__module__": __name__})


def __getattr__(name: str) -> Any:
    if name in _GENERATE:
        from .extras import has

        spec = _GENERATE[name] if has(*_GENERATE_MODULES) else None
        value = _placeholder(name) if spec is None else None
    else:
        spec = _LAZY.get(name)
        if spec is None:
            raise AttributeError(f"module 'forensics' has no attribute {name!r}")
        value = None
    if value is None:
        module, _, attr = spec.partition(":")
        value = importlib.import_module(module)
        value = getattr(value, attr) if attr else value
    if name not in _GENERATE:  # the generate names follow what is installed; the rest are cached
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    import os
    from collections.abc import Iterable
    from typing import Any

    from . import watermark
    from .api import Signed, Source, sign
    from .errors import ConfigError, ForensicsError, MediaError
    from .extras import MissingExtra
    from .generate.pipeline import Generator, load_generator
    from .generate.types import GeneratedImage, GenerationRequest
    from .report import (CredentialsFinding, DetectorFinding, ErrorInfo, FramesFinding, MetadataFinding, Report,
                         Signer, Status, Verdict, VerdictLabel, WatermarkDetection, WatermarkFinding)
