"""Regeneration attack for the benchmark: an encode/decode round trip through a tiny autoencoder (TAESD).

WAVES (2024) shows most watermarks fall to regeneration through a latent autoencoder. TAESD models are tiny
distilled copies of the Stable Diffusion / SDXL / SD3 / FLUX latent VAEs; their weights are flat
``nn.Sequential`` state dicts (``0.weight``, ``1.conv.0.weight`` …), so the architecture (madebyollin/taesd,
MIT) is rebuilt here from the keys: encoder conv → Block → 3 × (stride-2 conv, 3 Blocks) → conv;
decoder clamp → conv → ReLU → 3 × (3 Blocks, 2× upsample, conv) → Block → conv. Image values in [0, 1].

Torch is needed (the ``[train]`` or ``[generate]`` extra); only the benchmark imports this module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...extras import require

# (name, encoder file, decoder file): the latent spaces the issue asks for
AUTOENCODERS = {
    "taesd": ("taesd_encoder.safetensors", "taesd_decoder.safetensors"),  # SD 1.x / 2.x
    "taesdxl": ("taesdxl_encoder.safetensors", "taesdxl_decoder.safetensors"),  # SDXL
    "taesd3": ("taesd3_encoder.safetensors", "taesd3_decoder.safetensors"),  # SD3
    "taef1": ("taef1_encoder.safetensors", "taef1_decoder.safetensors"),  # FLUX.1
}
# FLUX.2's taef2 weights add a "pool" branch (1x1 conv 64→256, a norm, 1x1 conv 256→64) to some Blocks whose
# forward pass the published README does not describe; it is not guessed here, so FLUX.2 is not benchmarked.


def _load_state(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: v.float() for k, v in sd.items()}


def _build(sd: dict, decoder: bool):
    """An nn.Sequential matching the flat TAESD key layout of ``sd``."""
    import torch
    from torch import nn

    class Clamp(nn.Module):
        def forward(self, x):
            return torch.tanh(x / 3) * 3

    class Block(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(n_out, n_out, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(n_out, n_out, 3, padding=1))
            self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
            self.fuse = nn.ReLU()

        def forward(self, x):
            return self.fuse(self.conv(x) + self.skip(x))

    top = max(int(k.split(".")[0]) for k in sd)
    convs = [i for i in range(top + 1) if f"{i}.weight" in sd]
    layers = []
    for i in range(top + 1):
        if f"{i}.conv.0.weight" in sd:
            w = sd[f"{i}.conv.0.weight"]
            layers.append(Block(w.shape[1], w.shape[0]))
        elif f"{i}.weight" in sd:
            w = sd[f"{i}.weight"]
            stride = 2 if (not decoder and i not in (convs[0], convs[-1])) else 1
            layers.append(nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=stride, padding=w.shape[2] // 2,
                                    bias=f"{i}.bias" in sd))
        elif decoder and i == 0:
            layers.append(Clamp())
        elif decoder and i == 2:
            layers.append(nn.ReLU())
        else:
            layers.append(nn.Upsample(scale_factor=2))
    model = nn.Sequential(*layers)
    model.load_state_dict(sd, strict=True)
    return model.eval()


class Regenerate:
    """``Regenerate(models_dir, "taef1")(rgb)``: the attack (HxWx3 uint8 in, same size out)."""

    def __init__(self, models_dir: str | Path, name: str):
        require("train", "torch", "safetensors", feature="the regeneration attack")
        enc_file, dec_file = AUTOENCODERS[name]
        root = Path(models_dir)
        found = {f: next((p for p in root.rglob(f)), None) for f in (enc_file, dec_file)}
        missing = [f for f, p in found.items() if p is None]
        if missing:
            from ...errors import WatermarkError

            raise WatermarkError(f"regeneration attack {name}: {', '.join(missing)} not found under {root}")
        self.name = name
        self.encoder = _build(_load_state(found[enc_file]), decoder=False)
        self.decoder = _build(_load_state(found[dec_file]), decoder=True)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        h, w = rgb.shape[:2]
        ph, pw = -h % 8, -w % 8  # the latent is 8× smaller: pad to a multiple
        x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect") if (ph or pw) else rgb
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0
            out = self.decoder(self.encoder(t)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        return np.rint(out[:h, :w] * 255.0).astype(np.uint8)


def regeneration_attacks(models_dir: str | Path, names: list[str] | None = None) -> dict:
    """``{"regen-<name>": attack}`` for each autoencoder found under ``models_dir``."""
    return {f"regen-{n}": Regenerate(models_dir, n) for n in (names or list(AUTOENCODERS))}
