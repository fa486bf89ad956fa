"""Typed exceptions. Every error a user can cause maps to one of these, never to a traceback."""
from __future__ import annotations


class ForensicsError(Exception):
    """Base class; ``code`` is the machine-readable code used in JSON error objects."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class MediaError(ForensicsError):
    """The input file cannot be processed (missing, unreadable, unsupported, too large, corrupt)."""

    code = "unreadable"


class NotFound(MediaError):
    code = "not_found"


class Unsupported(MediaError):
    code = "unsupported"


class TooLarge(MediaError):
    code = "too_large"


class Corrupt(MediaError):
    code = "corrupt"


class CredentialsError(ForensicsError):
    """Signing or reading Content Credentials failed (bad key, bad certificate chain, c2pa error)."""

    code = "credentials"


class WatermarkError(ForensicsError):
    code = "watermark"


class ConfigError(ForensicsError):
    """A configuration problem the user must fix (missing keys, bad registry URL…)."""

    code = "config"
