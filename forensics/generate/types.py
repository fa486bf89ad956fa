"""Request and result types of the generation core (no heavy imports)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}

# progress(done, total): units are denoising steps summed over every image of the request
ProgressCallback = Callable[[int, int], None]


@dataclass
class GenerationRequest:
    prompt: str
    negative_prompt: str | None = None
    seed: int | None = None  # None: a random seed (reported back in GeneratedImage.seed)
    steps: int | None = None  # None: the model family's default (1 for *-turbo)
    guidance: float | None = None  # None: the model family's default
    size: tuple[int, int] | None = None  # (width, height); None: the model's native size
    n: int = 1  # images; image i uses seed + i
    format: str = "png"  # png | jpeg | webp
    private_prompt: bool = False  # manifest keeps only the prompts' SHA-256
    init_image: bytes | None = None  # image-to-image / inpainting source (becomes the parent ingredient)
    mask: bytes | None = None  # inpainting mask (white = repaint); needs init_image
    strength: float | None = None  # how far from init_image (0-1]; default 0.75 (0.5 for turbo models)
    title: str | None = None  # manifest title; default "AI-generated image"


@dataclass
class GeneratedImage:
    data: bytes  # the signed file (watermarked pixels + embedded C2PA manifest)
    media_type: str
    manifest_id: str
    watermark: str  # the soft-binding payload, hex
    seed: int
    width: int
    height: int
    manifest: dict  # the active manifest as c2pa reads it back
    timings_ms: dict = field(default_factory=dict)  # sample / watermark / encode / sign / store
    pixels: "np.ndarray | None" = field(default=None, repr=False)  # uint8 HxWx3 as signed: watermarked

    @property
    def extension(self) -> str:
        return {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}[self.media_type]
