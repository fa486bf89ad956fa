"""Builders that synthesise training fakes offline from real photos, each labelled by its source.

* :class:`AutoencoderReconstruction` — real photo → tiny latent autoencoder (TAESD family, e.g. ``taef2`` for
  FLUX.2) → decoded image. Rajan et al. (ICLR 2025) and B-Free (CVPR 2025): the decoder's up-sampling trace is
  what latent-diffusion images share, and a reconstruction keeps the content, so the only difference between
  the pair is that trace.
* :class:`VAEReconstruction` — the same through a full diffusers ``AutoencoderKL`` in a local folder (the
  SD / SDXL autoencoders; none ships in ../shared, so the shipped model could not use it).
* :class:`UpsampleSimulator` — downscale ×2, then up-sample with nearest / bilinear / bicubic interpolation or a
  randomly initialised transposed-convolution or pixel-shuffle decoder (NPR, CVPR 2024: up-sampling is the
  common trace of generators).
* :class:`GenerationCoreSampler` — samples of the project's own generation core (task D). With random weights
  its output is noise, so the shipped model does not use it; it exists for when real weights are installed.

Torch is imported inside the builders that need it; nothing here downloads anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np


class FakeBuilder(Protocol):
    source: str  # label written next to every fake it makes

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode any image file to HxWx3 uint8 RGB (EXIF orientation applied)."""
    from PIL import Image

    from ..imaging import exif_transposed, to_rgb_uint8

    with Image.open(path) as img:
        return to_rgb_uint8(exif_transposed(img))


# --- tiny autoencoders (TAESD architecture, MIT, madebyollin/taesd) ------------------------------------

def _taesd_modules():
    import torch
    from torch import nn

    def conv(n_in, n_out, **kw):
        return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)

    class Clamp(nn.Module):
        def forward(self, x):
            return torch.tanh(x / 3) * 3

    class Block(nn.Module):
        def __init__(self, n_in, n_out, midblock_gn=False):
            super().__init__()
            self.conv = nn.Sequential(conv(n_in, n_out), nn.ReLU(), conv(n_out, n_out), nn.ReLU(), conv(n_out, n_out))
            self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
            self.fuse = nn.ReLU()
            self.pool = None
            if midblock_gn:  # FLUX.2 variant (taef2): a 1×1 GroupNorm bottleneck added before the block
                g = n_in * 4
                self.pool = nn.Sequential(nn.Conv2d(n_in, g, 1, bias=False), nn.GroupNorm(4, g), nn.ReLU(),
                                          nn.Conv2d(g, n_in, 1, bias=False))

        def forward(self, x):
            if self.pool is not None:
                x = x + self.pool(x)
            return self.fuse(self.conv(x) + self.skip(x))

    def encoder(c, gn):
        return nn.Sequential(
            conv(3, 64), Block(64, 64),
            conv(64, 64, stride=2, bias=False), Block(64, 64), Block(64, 64), Block(64, 64),
            conv(64, 64, stride=2, bias=False), Block(64, 64), Block(64, 64), Block(64, 64),
            conv(64, 64, stride=2, bias=False), Block(64, 64, gn), Block(64, 64, gn), Block(64, 64, gn),
            conv(64, c))

    def decoder(c, gn):
        return nn.Sequential(
            Clamp(), conv(c, 64), nn.ReLU(),
            Block(64, 64, gn), Block(64, 64, gn), Block(64, 64, gn), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
            Block(64, 64), Block(64, 64), Block(64, 64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
            Block(64, 64), Block(64, 64), Block(64, 64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
            Block(64, 64), conv(64, 3))

    return encoder, decoder


class AutoencoderReconstruction:
    """Encode + decode through a TAESD-family tiny autoencoder loaded from local ``*_encoder.pth``/``*_decoder.pth``."""

    def __init__(self, encoder_path: str | Path, decoder_path: str | Path, source: str | None = None,
                 max_side: int = 512):
        import torch

        def load(path):  # taesd-family ships bf16 safetensors, madebyollin/taesd fp16 .pth state dicts
            if str(path).endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path), device="cpu")
            return torch.load(path, map_location="cpu", weights_only=True)

        enc_sd, dec_sd = load(encoder_path), load(decoder_path)
        channels = int(dec_sd["1.weight"].shape[1])
        gn = "3.pool.0.weight" in dec_sd
        make_enc, make_dec = _taesd_modules()
        self.encoder, self.decoder = make_enc(channels, gn), make_dec(channels, gn)
        self.encoder.load_state_dict({k: v.float() for k, v in enc_sd.items()})
        self.decoder.load_state_dict({k: v.float() for k, v in dec_sd.items()})
        self.encoder.eval(), self.decoder.eval()
        self.source = source or Path(encoder_path).name.replace("_encoder.pth", "") + "-recon"
        self.max_side = max_side

    @classmethod
    def from_dir(cls, folder: str | Path, name: str = "taef2", **kw) -> "AutoencoderReconstruction":
        folder = Path(folder)
        return cls(folder / f"{name}_encoder.pth", folder / f"{name}_decoder.pth", source=f"{name}-recon", **kw)

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        import torch

        h, w = rgb.shape[:2]
        h8, w8 = h - h % 8, w - w % 8  # latents are /8
        x = torch.from_numpy(np.ascontiguousarray(rgb[:h8, :w8])).permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            y = self.decoder(self.encoder(x)).clamp(0, 1)
        return (y[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


class VAEReconstruction:
    """Encode + decode through a full diffusers ``AutoencoderKL`` from a local folder (e.g. a copy of
    ``stabilityai/sd-vae-ft-mse`` or an SDXL ``vae/`` subfolder): the autoencoder real SD-family images
    went through — the pairing Rajan et al. and B-Free train on. Loaded with ``local_files_only``: nothing
    is downloaded; the folder must already be on disk. Builder name ``vae:<folder>``."""

    def __init__(self, folder: str | Path, max_side: int = 512):
        import torch
        from diffusers import AutoencoderKL

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ValueError(f"{folder} is not a diffusers AutoencoderKL folder (no config.json)")
        self.vae = AutoencoderKL.from_pretrained(folder, local_files_only=True, torch_dtype=torch.float32).eval()
        self.source = f"vae-{folder.name}-recon"
        self.max_side = max_side

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        import torch

        f = 2 ** (len(self.vae.config.block_out_channels) - 1)  # the latent's down-sampling factor
        h, w = rgb.shape[:2]
        h, w = h - h % f, w - w % f
        x = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w])).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        with torch.inference_mode():
            # the latent's mode, not a sample: the reconstruction should differ from the photo by the
            # decoder's trace only, not by sampling noise
            y = self.vae.decode(self.vae.encode(x).latent_dist.mode()).sample
        return ((y[0].clamp(-1, 1).permute(1, 2, 0).numpy() + 1.0) * 127.5 + 0.5).astype(np.uint8)


# --- up-sampling simulators ------------------------------------------------------------------------------

_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


class UpsampleSimulator:
    """Downscale ×``factor`` (area) then up-sample back; ``mode`` is an interpolation or a random decoder."""

    MODES = ("nearest", "bilinear", "bicubic", "deconv", "pixelshuffle")

    def __init__(self, mode: str = "bilinear", factor: int = 2):
        if mode not in self.MODES:
            raise ValueError(f"unknown up-sampling mode {mode!r}; choose from {', '.join(self.MODES)}")
        self.mode, self.factor = mode, factor
        self.source = f"upsample-{mode}"

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        f = self.factor
        h, w = rgb.shape[:2]
        h, w = h - h % f, w - w % f
        small = cv2.resize(rgb[:h, :w], (w // f, h // f), interpolation=cv2.INTER_AREA)
        if self.mode in _INTERP:
            return cv2.resize(small, (w, h), interpolation=_INTERP[self.mode])
        return _random_decoder(small, f, self.mode, rng)


def _random_decoder(small: np.ndarray, f: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """A random, roughly interpolating learned up-sampler: the per-phase kernels differ slightly, which is
    the checkerboard trace of transposed convolutions and pixel shuffles in real decoders."""
    x = small.astype(np.float32) / 255.0
    h, w = x.shape[:2]
    out = np.zeros((h * f, w * f, 3), np.float32)
    base = cv2.resize(x, (w * f, h * f), interpolation=cv2.INTER_LINEAR if mode == "deconv" else cv2.INTER_NEAREST)
    for dy in range(f):
        for dx in range(f):
            k = np.zeros((3, 3), np.float32)
            k[1, 1] = 1.0
            k += rng.normal(0, 0.04, (3, 3)).astype(np.float32)
            k /= k.sum()
            gain = 1.0 + rng.normal(0, 0.02)
            phase = cv2.filter2D(base, -1, k, borderType=cv2.BORDER_REFLECT) * gain
            out[dy::f, dx::f] = phase[dy::f, dx::f]
    return (np.clip(out, 0, 1) * 255.0 + 0.5).astype(np.uint8)


class GenerationCoreSampler:
    """Images from the project's generation core (``forensics.generate``), e.g. ``builtin:tiny``.

    Unlike the other builders it ignores the input photo content except for its size. With the random
    weights of ``builtin:tiny`` the output is structured noise; use real weights for useful fakes.
    """

    def __init__(self, model: str = "builtin:tiny", steps: int = 2):
        self.model, self.steps = model, steps
        self.source = f"generate-{model.replace(':', '-')}"
        self._pipe = None

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        try:
            from ..generate import pipeline as gen  # task D's module
        except ImportError as exc:
            raise RuntimeError(f"the generation core is not available: {exc}") from None
        if self._pipe is None:
            self._pipe = gen.load_pipeline(self.model)
        h, w = rgb.shape[:2]
        img = gen.generate_image(self._pipe, "a photo", seed=int(rng.integers(0, 2**31)), steps=self.steps,
                                 size=(w - w % 8, h - h % 8))
        return np.asarray(img.convert("RGB"))


def default_builders(taesd_dir: str | Path | None = None, names: list[str] | None = None) -> list:
    """Builders by name: ``taef2`` or another TAESD-family name (needs ``taesd_dir``), ``vae:<folder>`` (a
    local diffusers AutoencoderKL), ``nearest``, ``bilinear``, ``bicubic``, ``deconv``, ``pixelshuffle``,
    ``generate``."""
    names = names or ["taef2", "nearest", "bilinear", "deconv"]
    out = []
    for n in names:
        if n in UpsampleSimulator.MODES:
            out.append(UpsampleSimulator(n))
        elif n.startswith("vae:"):
            out.append(VAEReconstruction(n[4:]))
        elif n == "generate":
            out.append(GenerationCoreSampler())
        elif n.startswith("tae"):
            if taesd_dir is None:
                raise ValueError(f"builder {n!r} needs the folder holding {n}_encoder.pth / {n}_decoder.pth")
            out.append(AutoencoderReconstruction.from_dir(taesd_dir, n))
        else:
            raise ValueError(f"unknown fake builder {n!r}")
    return out
