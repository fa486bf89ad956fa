"""The newsroom service: `forensics serve` (FastAPI on uvicorn).

>>> from forensics.service import create_app, ServiceSettings
>>> app = create_app(ServiceSettings.load(model="builtin:tiny"))
"""
from __future__ import annotations

from .settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None, **kwargs):
    """Build the FastAPI app (see :func:`forensics.service.app.create_app`)."""
    from .app import create_app as _create

    return _create(settings, **kwargs)


__all__ = ["ServiceSettings", "create_app"]
