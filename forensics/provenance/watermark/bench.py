"""`forensics watermark bench`: quality, speed and robustness of each scheme, measured, never assumed.

For every scheme and image: PSNR and SSIM of the marked image, embed and detect time; for every attack
the bit accuracy and whether the mark is still *detected at the false-positive rate* (1e-6) with the
right payload (TPR). Schemes without error correction (dwtDct, dwtDctSvd, rivaGan) are scored the
only way they can be calibrated: verification of the known payload (binomial tail of matched bits).
Then the false-positive rate on unmarked images. Results: printed table, JSON, markdown and a plot.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import ForensicsError, WatermarkError
from . import get_scheme
from .attacks import LOWER_TARGET, PIPELINE_SPECS, describe, get_attacks

BLIND = {"fsw-v1", "fsw-v2"}  # schemes whose detection needs no expected payload


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: Gaussian window σ=1.5, K1=0.01, K2=0.03), mean over pixels and R, G, B
    (per channel, so chroma-only marks are not scored as invisible)."""
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c]) for c in range(a.shape[2])]))
    import cv2

    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m[5:-5, 5:-5].mean()) if min(m.shape) > 10 else float(m.mean())


def payload_for(name: str, n: int) -> bytes:
    """Deterministic per-image payload (reproducible runs)."""
    return hashlib.sha256(name.encode()).digest()[:n]


@dataclass
class AttackResult:
    n: int = 0
    detected: int = 0
    bit_acc_sum: float = 0.0
    read: int = 0  # images where the detector read any bits

    @property
    def tpr(self) -> float | None:
        return self.detected / self.n if self.n else None

    @property
    def bit_accuracy(self) -> float | None:
        return self.bit_acc_sum / self.n if self.n else None


@dataclass
class SchemeResult:
    scheme: str
    images: int = 0
    skipped: list[str] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    embed_ms: list[float] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    attacks: dict[str, AttackResult] = field(default_factory=dict)
    fp_images: int = 0
    fp_detections: int = 0
    fp_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        def mean(v):
            return round(float(np.mean(v)), 3) if v else None

        return {
            "scheme": self.scheme, "images": self.images, "skipped": self.skipped,
            "psnr_mean": mean(self.psnr), "psnr_min": round(float(np.min(self.psnr)), 3) if self.psnr else None,
            "ssim_mean": mean(self.ssim),
            "embed_ms_mean": mean(self.embed_ms), "detect_ms_mean": mean(self.detect_ms),
            "detect_unmarked_ms_mean": mean(self.fp_ms),
            "attacks": {k: {"n": a.n, "tpr": None if a.tpr is None else round(a.tpr, 4),
                            "bit_accuracy": None if a.bit_accuracy is None else round(a.bit_accuracy, 4)}
                        for k, a in self.attacks.items()},
            "false_positives": {"images": self.fp_images, "detections": self.fp_detections,
                                "rate": (self.fp_detections / self.fp_images) if self.fp_images else None},
        }


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    from ...media import IMAGE_TYPES, sniff_path

    root = Path(folder)
    if not root.is_dir():
        raise WatermarkError(f"--images {folder}: not a folder")
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            try:
                if sniff_path(p) in IMAGE_TYPES:
                    out.append(p)
            except OSError:
                continue
    if limit:
        # spread the subset over the whole (sorted) folder rather than taking the first sub-folder
        idx = np.linspace(0, len(out) - 1, num=min(limit, len(out))).round().astype(int)
        out = [out[i] for i in sorted(set(idx.tolist()))]
    return out


def load_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    from ...media import Media

    media = Media.open(path)
    return media.rgb(max_side=max_side)


def _bit_accuracy(bits: np.ndarray | None, ref: np.ndarray) -> float:
    if bits is None:
        return 0.5  # nothing read: chance level
    return float(np.mean(np.asarray(bits, dtype=np.uint8)[: ref.size] == ref))


def run_bench(images: list[Path], schemes: list[str], attacks: list[str] | None = None, *,
              fp_images: list[Path] | None = None, fpr: float = 1e-6, max_side: int | None = None,
              progress: Callable[[str], None] | None = None, extra_attacks: dict | None = None) -> dict:
    atts = get_attacks(attacks)
    atts.update(extra_attacks or {})  # e.g. the regeneration attacks (regen.py), which need torch
    say = progress or (lambda _m: None)
    results: dict[str, SchemeResult] = {}
    cache: dict[Path, np.ndarray] = {}

    def rgb_of(p: Path) -> np.ndarray | None:
        if p not in cache:
            try:
                cache[p] = load_rgb(p, max_side)
            except ForensicsError as exc:
                say(f"skip {p}: {exc.message}")
                cache[p] = None
        return cache[p]

    for name in schemes:
        s = get_scheme(name)
        if not s.embeddable:
            continue
        res = results[name] = SchemeResult(name, attacks={k: AttackResult() for k in atts})
        for i, p in enumerate(images):
            rgb = rgb_of(p)
            if rgb is None:
                continue
            payload = payload_for(p.name, s.payload_bytes)
            ref = s.reference_bits(payload)
            try:
                t = time.perf_counter()
                marked = _embed(s, rgb, payload)
                res.embed_ms.append((time.perf_counter() - t) * 1000)
            except WatermarkError as exc:
                res.skipped.append(f"{p.name}: {exc.message}")
                continue
            res.images += 1
            res.psnr.append(psnr(rgb, marked))
            res.ssim.append(ssim(rgb, marked))
            expected = None if name in BLIND else payload
            t = time.perf_counter()
            s.detect_rgb(marked, fpr=fpr, expected=expected)
            res.detect_ms.append((time.perf_counter() - t) * 1000)
            for k, att in atts.items():
                a = att(marked)
                d, bits = s.detect_with_bits(a, fpr=fpr, expected=expected)
                ar = res.attacks[k]
                ar.n += 1
                ar.detected += int(bool(d.detected and d.payload == payload.hex()))
                ar.bit_acc_sum += _bit_accuracy(bits, ref)
            say(f"{name}: {i + 1}/{len(images)} {p.name}")
    # false positives on unmarked images: blind for fsw, verification of a fixed payload otherwise,
    # and the third-party marks (SD / SDXL) that verify runs on every file
    fp_list = fp_images if fp_images is not None else images
    fp_schemes = [n for n in schemes if get_scheme(n).embeddable] + ["sd-dwtDct", "sdxl-dwtDct"]
    for name in fp_schemes:
        s = get_scheme(name)
        res = results.setdefault(name, SchemeResult(name))
        expected = None if (name in BLIND or not s.embeddable) else payload_for("unmarked", s.payload_bytes)
        for j, p in enumerate(fp_list):
            rgb = rgb_of(p) if fp_images is None else _load_quiet(p, max_side)
            if rgb is None:
                continue
            t = time.perf_counter()
            d = s.detect_rgb(rgb, fpr=fpr, expected=expected)
            res.fp_ms.append((time.perf_counter() - t) * 1000)
            res.fp_images += 1
            res.fp_detections += int(bool(d.detected))
            if (j + 1) % 50 == 0:
                say(f"false positives {name}: {j + 1}/{len(fp_list)}")
    return {
        "machine": machine(),
        "fpr": fpr,
        "images": len(images),
        "fp_images": len(fp_list),
        "max_side": max_side,
        "attacks": list(atts),
        "attack_parameters": {k: describe(PIPELINE_SPECS[k]) for k in atts if k in PIPELINE_SPECS},
        "lower_target_attacks": sorted(LOWER_TARGET),
        "schemes": {k: v.summary() for k, v in results.items()},
    }


def _load_quiet(p: Path, max_side: int | None) -> np.ndarray | None:
    try:
        return load_rgb(p, max_side)
    except ForensicsError:
        return None


def _embed(scheme, rgb: np.ndarray, payload: bytes) -> np.ndarray:
    from .base import embed_image

    return embed_image(rgb, scheme, payload)


def machine() -> str:
    import os

    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores visible, {platform.python_version()}"


# --- reporting ---------------------------------------------------------------------------------

def _fmt(v, spec=".2f"):
    return "–" if v is None else format(v, spec)


def to_markdown(result: dict) -> str:
    schemes = [s for s in result["schemes"].values() if s["images"]]
    lines = [f"Images: {result['images']} (max side {result['max_side'] or 'native'}); "
             f"false positives on {result['fp_images']} unmarked images; FPR {result['fpr']:g}; "
             f"machine: {result['machine']}.", ""]
    head = "| | " + " | ".join(s["scheme"] for s in schemes) + " |"
    lines += [head, "|---" * (len(schemes) + 1) + "|"]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(s) for s in schemes) + " |")

    row("PSNR dB (mean / min)", lambda s: f"{_fmt(s['psnr_mean'], '.1f')} / {_fmt(s['psnr_min'], '.1f')}")
    row("SSIM", lambda s: _fmt(s["ssim_mean"], ".4f"))
    row("embed ms", lambda s: _fmt(s["embed_ms_mean"], ".0f"))
    row("detect ms (marked)", lambda s: _fmt(s["detect_ms_mean"], ".0f"))
    row("detect ms (unmarked)", lambda s: _fmt(s["detect_unmarked_ms_mean"], ".0f"))
    for att in result["attacks"]:
        row(f"{att}: TPR / bit acc.", lambda s, a=att: f"{_fmt(s['attacks'][a]['tpr'])} / "
                                                        f"{_fmt(s['attacks'][a]['bit_accuracy'])}")
    fps = list(result["schemes"].values())
    lines += ["", "False positives on unmarked images (detections / images):", ""]
    lines += [f"- {s['scheme']}: {s['false_positives']['detections']} / {s['false_positives']['images']}"
              for s in fps if s["false_positives"]["images"]]
    return "\n".join(lines) + "\n"


def print_table(result: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    schemes = [s for s in result["schemes"].values() if s["images"]]
    t = Table(title=f"watermark bench — {result['images']} images, TPR at FPR {result['fpr']:g}")
    t.add_column("")
    for s in schemes:
        t.add_column(s["scheme"], justify="right")
    t.add_row("PSNR dB", *[_fmt(s["psnr_mean"], ".1f") for s in schemes])
    t.add_row("SSIM", *[_fmt(s["ssim_mean"], ".4f") for s in schemes])
    t.add_row("embed ms", *[_fmt(s["embed_ms_mean"], ".0f") for s in schemes])
    t.add_row("detect ms (marked)", *[_fmt(s["detect_ms_mean"], ".0f") for s in schemes])
    t.add_row("detect ms (unmarked)", *[_fmt(s["detect_unmarked_ms_mean"], ".0f") for s in schemes])
    for att in result["attacks"]:
        t.add_row(att, *[f"{_fmt(s['attacks'][att]['tpr'])} ({_fmt(s['attacks'][att]['bit_accuracy'])})"
                         for s in schemes])
    console.print(t)
    for s in result["schemes"].values():
        fp = s["false_positives"]
        if fp["images"]:
            console.print(f"false positives {s['scheme']}: {fp['detections']} / {fp['images']} unmarked images")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schemes = [s for s in result["schemes"].values() if s["images"]]
    atts = result["attacks"]
    fig, ax = plt.subplots(figsize=(max(8, 0.5 * len(atts) + 3), 4.5))
    width = 0.8 / max(len(schemes), 1)
    x = np.arange(len(atts))
    for i, s in enumerate(schemes):
        ax.bar(x + i * width, [s["attacks"][a]["tpr"] or 0 for a in atts], width, label=s["scheme"])
    ax.axhline(0.95, color="k", lw=0.8, ls="--")
    ax.set_xticks(x + width * (len(schemes) - 1) / 2, atts, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"TPR at FPR {result['fpr']:g}")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(f"Watermark robustness ({result['images']} images)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(result: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "watermark_bench.json", "markdown": out / "watermark_bench.md",
             "plot": out / "watermark_bench.png"}
    paths["json"].write_text(json.dumps(result, indent=2))
    paths["markdown"].write_text(to_markdown(result))
    plot(result, paths["plot"])
    return paths


__all__ = ["run_bench", "write_outputs", "print_table", "to_markdown", "list_images", "psnr", "ssim",
           "AttackResult", "SchemeResult"]
