"""Optional features and the install hint for each.

The base install is the verify path. Heavier features live in extras (pyproject ``[project.optional-dependencies]``);
code that needs one calls :func:`require` first, so a missing extra is a clear message (exit 2 on the command line)
with the exact install line, never an ``ImportError`` traceback.
"""
from __future__ import annotations

import importlib.util

from .errors import ForensicsError

DISTRIBUTION = "forensics-suite"


class MissingExtra(ForensicsError):
    """A feature needs an optional extra that is not installed."""

    code = "missing_extra"

    def __init__(self, extra: str, feature: str, missing: str):
        self.extra = extra
        self.missing = missing
        super().__init__(f"{feature} needs the '{extra}' extra ({missing} is not installed): {install_hint(extra)}")


def install_hint(extra: str) -> str:
    """The exact pip line that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


# The modules each extra installs (import names), as pyproject.toml lists the distributions.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "generate": ("torch", "diffusers", "transformers", "peft", "safetensors"),
    "train": ("torch", "torchvision", "timm", "sklearn", "onnx", "matplotlib"),
    "service": ("fastapi", "uvicorn", "python_multipart", "alembic"),
    "compat": ("imwatermark",),
    "ray": ("ray",),
    "s3": ("s3fs",),
    "parquet": ("pyarrow",),
}


def _importable(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a missing parent package, or a half-removed module
        return False
    # a bare folder of that name on sys.path (e.g. a ./ray session dir) is a namespace package, not the library
    return spec is not None and spec.origin is not None


def has(*modules: str) -> bool:
    """True when every top-level module is importable (without importing it)."""
    return all(_importable(m) for m in modules)


def require(extra: str, *modules: str, feature: str | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless every module in ``modules`` is importable
    (default: every module the extra installs)."""
    for module in modules or EXTRA_MODULES[extra]:
        if not _importable(module):
            raise MissingExtra(extra, feature or "this feature", module)


def extra_for_module(name: str | None) -> str | None:
    """The extra that installs the top-level module of ``name`` (``"torch.nn"`` → ``"generate"``), if any."""
    top = (name or "").split(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)
