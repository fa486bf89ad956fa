"""`builtin:tiny`: a small random-weight Stable-Diffusion-shaped pipeline built from configs.

Nothing is downloaded: the UNet, VAE and CLIP text encoder are instantiated from small configs (the same
shapes diffusers uses in its own fast tests) and the CLIP tokenizer gets a byte-level vocabulary written
locally. Weights are random but seeded, so the pipeline is the same on every machine; its output is abstract
noise. It exists for offline demos and tests, and behaves like any other pipeline (``save_pretrained`` /
``from_pretrained`` round-trip included).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

TINY_ID = "builtin:tiny"
TINY_SEED = 0  # weights are drawn from this seed: builtin:tiny is the same model everywhere
TINY_SIZE = 256  # default output side in pixels (latent 32, VAE factor 8 as in Stable Diffusion)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte → printable-unicode table (what the BPE vocabulary is written in)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer_files(folder: Path) -> None:
    """A byte-level CLIP vocabulary without merges: every byte is a token (plus its end-of-word form)."""
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")


def build_tiny_pipeline():
    """A StableDiffusionPipeline with random (seeded) weights: UNet 16/32, VAE 8-16 (factor 8), CLIP 32-wide."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(TINY_SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=TINY_SIZE // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
        attention_head_dim=4,
    )
    torch.manual_seed(TINY_SEED + 1)
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=TINY_SIZE,
        mid_block_add_attention=False,  # attention over every latent pixel is most of a tiny model's cost
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_tiny_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=77)
    torch.manual_seed(TINY_SEED + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer), projection_dim=32,
    ))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    for module in (unet, vae, text_encoder):
        module.eval()  # as from_pretrained leaves them: the saved-and-reloaded pipeline gives the same images
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
