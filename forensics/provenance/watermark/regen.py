"""Regeneration attack for the benchmark: an encode/decode round trip through a tiny autoencoder (TAESD).

WAVES (2024) shows most watermarks fall to regeneration through a latent autoencoder. TAESD models are tiny
distilled copies of the Stable Diffusion / SDXL / SD3 / FLUX latent VAEs. The autoencoders are the ones the
detector's training fakes use (:class:`forensics.datasets.builders.AutoencoderReconstruction`, FLUX.2's
taef2 included); this module only pads the image to the latent grid and finds the weight files.

Torch is needed (the ``[train]`` or ``[generate]`` extra); only the benchmark imports this module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...extras import require

# name → (encoder file, decoder file): the latent spaces the issue asks for
AUTOENCODERS = {
    "taesd": ("taesd_encoder.safetensors", "taesd_decoder.safetensors"),  # SD 1.x / 2.x
    "taesdxl": ("taesdxl_encoder.safetensors", "taesdxl_decoder.safetensors"),  # SDXL
    "taesd3": ("taesd3_encoder.safetensors", "taesd3_decoder.safetensors"),  # SD3
    "taef1": ("taef1_encoder.safetensors", "taef1_decoder.safetensors"),  # FLUX.1
    "taef2": ("taef2_encoder.pth", "taef2_decoder.pth"),  # FLUX.2
}


def _find(root: Path, name: str) -> dict[str, Path | None]:
    return {f: next((p for p in sorted(root.rglob(f))), None) for f in AUTOENCODERS[name]}


class Regenerate:
    """``Regenerate(models_dir, "taef1")(rgb)``: the attack (HxWx3 uint8 in, same size out)."""

    def __init__(self, models_dir: str | Path, name: str):
        require("train", "torch", "safetensors", feature="the regeneration attack")
        from ...datasets.builders import AutoencoderReconstruction

        root = Path(models_dir)
        found = _find(root, name)
        missing = [f for f, p in found.items() if p is None]
        if missing:
            from ...errors import WatermarkError

            raise WatermarkError(f"regeneration attack {name}: {', '.join(missing)} not found under {root}")
        enc, dec = (found[f] for f in AUTOENCODERS[name])
        self.name = name
        self.model = AutoencoderReconstruction(enc, dec, source=f"{name}-recon")

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        ph, pw = -h % 8, -w % 8  # the latent is 8× smaller: pad to a multiple, crop back after
        x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect") if (ph or pw) else np.array(rgb)
        return np.ascontiguousarray(self.model(x)[:h, :w])


def regeneration_attacks(models_dir: str | Path, names: list[str] | None = None) -> dict:
    """``{"regen-<name>": attack}`` for each autoencoder named (default: each one whose weights are under
    ``models_dir``)."""
    root = Path(models_dir)
    if names is None:
        names = [n for n in AUTOENCODERS if all(_find(root, n).values())]
        if not names:
            from ...errors import WatermarkError

            raise WatermarkError(f"--regen-models {models_dir}: no TAESD weights found "
                                 f"({', '.join(f for pair in AUTOENCODERS.values() for f in pair)})")
    return {f"regen-{n}": Regenerate(root, n) for n in names}
