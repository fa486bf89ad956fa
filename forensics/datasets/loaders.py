"""Loaders for the common detector-dataset layouts, all returning the same :class:`Sample` list.

* a folder with ``labels.csv`` (columns ``path,label[,generator,source]``; label ``real|fake|0|1``)
* ForenSynths / CNNDetection: ``<root>/[<class>/]0_real|1_fake/*``
* GenImage: ``<root>/[<generator>/][train|val/]nature|ai/*``

``group`` names the source photo: augmentations and fakes derived from one photo share it, and
:func:`forensics.datasets.splits.group_split` never puts one group in two splits.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}
_LABELS = {"real": 0, "0": 0, "nature": 0, "fake": 1, "1": 1, "ai": 1, "synthetic": 1}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 real, 1 synthetic
    source: str  # generator name for fakes, sub-folder (camera/dataset) for reals
    group: str  # source-photo id; never split across train/calibration/test

    @property
    def is_fake(self) -> bool:
        return self.label == 1


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _label(value: str, where: str) -> int:
    try:
        return _LABELS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{where}: unknown label {value!r} (use real/fake or 0/1)") from None


def load_labels_csv(root: str | Path) -> list[Sample]:
    """A folder with ``labels.csv``; paths in the CSV are relative to the folder."""
    root = Path(root)
    out = []
    with open(root / "labels.csv", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            rel = row["path"]
            label = _label(row["label"], f"labels.csv line {i}")
            source = (row.get("generator") or "").strip() or (rel.split("/", 1)[0] if "/" in rel else "unknown")
            out.append(Sample(root / rel, label, source, f"{root.name}/{rel}"))
    return out


def load_forensynths(root: str | Path) -> list[Sample]:
    """CNNDetection layout: ``0_real``/``1_fake`` folders, optionally one level below a class folder."""
    root = Path(root)
    out = []
    for label_dir in sorted(root.rglob("*")):
        if not label_dir.is_dir() or label_dir.name not in ("0_real", "1_fake"):
            continue
        label = 0 if label_dir.name == "0_real" else 1
        parent = label_dir.parent
        source = parent.name if parent != root else root.name
        for p in _images(label_dir):
            out.append(Sample(p, label, source, f"{source}/{p.stem}"))
    return out


def load_genimage(root: str | Path) -> list[Sample]:
    """GenImage layout: ``ai``/``nature`` folders below a generator (and train/val) folder."""
    root = Path(root)
    out = []
    for label_dir in sorted(root.rglob("*")):
        if not label_dir.is_dir() or label_dir.name not in ("ai", "nature"):
            continue
        label = 1 if label_dir.name == "ai" else 0
        gen = label_dir.parent
        if gen.name in ("train", "val", "test") and gen != root:
            gen = gen.parent
        source = gen.name if gen != root else root.name
        for p in _images(label_dir):
            out.append(Sample(p, label, source, f"{source}/{p.stem}"))
    return out


def detect_layout(root: str | Path) -> str:
    root = Path(root)
    if (root / "labels.csv").is_file():
        return "labels-csv"
    names = {p.name for p in root.rglob("*") if p.is_dir()}
    if names & {"0_real", "1_fake"}:
        return "forensynths"
    if names & {"ai", "nature"}:
        return "genimage"
    raise ValueError(f"{root}: no labels.csv, 0_real/1_fake or ai/nature folders found")


def load_dataset(root: str | Path) -> list[Sample]:
    """Load any supported layout (detected from the folder structure)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    layout = detect_layout(root)
    return {"labels-csv": load_labels_csv, "forensynths": load_forensynths, "genimage": load_genimage}[layout](root)
