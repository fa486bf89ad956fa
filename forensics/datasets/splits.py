"""Group-aware splits: a deterministic hash of the group decides the split, so every photo (and every
fake derived from it) lands in exactly one split, and the split of a photo can be recomputed later
(the evaluation uses this to keep only held-out photos)."""
from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

DEFAULT_FRACTIONS = {"train": 0.70, "calib": 0.15, "test": 0.15}


def split_of(group: str, seed: int = 0, fractions: dict[str, float] | None = None) -> str:
    fractions = fractions or DEFAULT_FRACTIONS
    h = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    acc = 0.0
    for name, frac in fractions.items():
        acc += frac
        if u < acc:
            return name
    return list(fractions)[-1]


def group_split(samples: Iterable, seed: int = 0, fractions: dict[str, float] | None = None) -> dict[str, list]:
    """Split samples (anything with a ``group`` attribute) by group; returns {split name: samples}."""
    fractions = fractions or DEFAULT_FRACTIONS
    out: dict[str, list] = {k: [] for k in fractions}
    for s in samples:
        out[split_of(s.group, seed, fractions)].append(s)
    return out


def check_disjoint(splits: dict[str, Sequence]) -> None:
    """Raise if a group appears in two splits."""
    seen: dict[str, str] = {}
    for name, items in splits.items():
        for s in items:
            other = seen.setdefault(s.group, name)
            if other != name:
                raise ValueError(f"group {s.group!r} is in both {other!r} and {name!r}")
