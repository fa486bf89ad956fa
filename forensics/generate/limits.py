"""Request limits of generation: one dataclass, one check, shared by ``forensics generate``, the Python API
(:meth:`Generator.generate`) and the service (``/v1/generate`` and its ``[service]`` settings).

Stdlib only: ``forensics.config`` validates config.toml ranges against :data:`HARD_LIMITS`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class GenerationLimits:
    """Bounds on one generation request. :data:`HARD_LIMITS` is what the generator accepts at all; the
    service narrows steps and sides through its settings (never beyond the hard limits)."""

    max_steps: int = 200
    min_side: int = 8
    max_side: int = 2048
    side_multiple: int = 8  # pipelines with a transformer backbone need 16 (checked by the generator)
    max_seed: int = 2**63 - 1
    max_guidance: float = 50.0
    max_images: int = 16

    def narrowed(self, *, max_steps: int | None = None, min_side: int | None = None,
                 max_side: int | None = None) -> "GenerationLimits":
        """These limits, made stricter (values outside the hard bounds are refused)."""
        from dataclasses import replace

        out = replace(self, max_steps=self.max_steps if max_steps is None else int(max_steps),
                      min_side=self.min_side if min_side is None else int(min_side),
                      max_side=self.max_side if max_side is None else int(max_side))
        if not (1 <= out.max_steps <= self.max_steps and self.min_side <= out.min_side <= out.max_side <= self.max_side):
            raise ConfigError(f"generation limits out of range: steps 1-{self.max_steps}, "
                              f"sides {self.min_side}-{self.max_side} px with min_side <= max_side")
        return out


HARD_LIMITS = GenerationLimits()


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def check_request(limits: GenerationLimits, *, steps=None, seed=None, size=None, guidance=None, n=1,
                  strength=None) -> None:
    """Raise :class:`ConfigError` with a message a user can act on if a request value is out of bounds.
    ``None`` means "not given" (the model's default applies)."""
    if steps is not None and (not _is_int(steps) or not 1 <= steps <= limits.max_steps):
        raise ConfigError(f"steps must be a whole number between 1 and {limits.max_steps}")
    if not _is_int(n) or not 1 <= n <= limits.max_images:
        raise ConfigError(f"n must be between 1 and {limits.max_images}")
    if seed is not None:
        if not _is_int(seed) or not 0 <= seed <= limits.max_seed:
            raise ConfigError(f"seed must be a whole number between 0 and {limits.max_seed}")
        if seed + n - 1 > limits.max_seed:  # image i uses seed + i
            raise ConfigError(f"seed + n - 1 must be at most {limits.max_seed}")
    if guidance is not None:
        if not _is_number(guidance) or not 0 <= guidance <= limits.max_guidance:
            raise ConfigError(f"guidance must be a finite number between 0 and {limits.max_guidance:g}")
    if strength is not None:
        if not _is_number(strength) or not 0.0 < strength <= 1.0:
            raise ConfigError("strength must be in (0, 1]")
    if size is not None:
        try:
            w, h = size
        except (TypeError, ValueError):
            raise ConfigError("size must be (width, height)") from None
        if not (_is_int(w) and _is_int(h)):
            raise ConfigError("width and height must be whole numbers")
        m = limits.side_multiple
        if not (limits.min_side <= w <= limits.max_side and limits.min_side <= h <= limits.max_side) \
                or w % m or h % m:
            raise ConfigError(f"size {w}x{h}: width and height must be multiples of {m} "
                              f"between {limits.min_side} and {limits.max_side}")
