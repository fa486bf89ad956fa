"""Generation core: diffusers text-to-image (and image-to-image / inpainting) whose every decoded image is
watermarked, C2PA-signed and stored in the manifest repository before it leaves.

    from forensics.generate import load_generator, GenerationRequest
    gen = load_generator("builtin:tiny")            # or a hub id / local diffusers folder
    [img] = gen.generate(GenerationRequest("a lighthouse at dusk", seed=7))
    open("out.png", "wb").write(img.data)           # img.manifest_id, img.watermark (payload hex)

Importing this package is light; torch and diffusers load in :func:`load_generator`.
"""
from __future__ import annotations

from .tiny import TINY_ID
from .types import FORMATS, GeneratedImage, GenerationRequest, ProgressCallback

__all__ = ["load_generator", "Generator", "GenerationRequest", "GeneratedImage", "ProgressCallback",
           "GenerationError", "SafetyRefusal", "TINY_ID", "FORMATS", "DEFAULT_MODEL"]


def __getattr__(name):  # the pipeline module imports numpy and, lazily, torch/diffusers
    if name in ("load_generator", "Generator", "GenerationError", "SafetyRefusal", "DEFAULT_MODEL"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
