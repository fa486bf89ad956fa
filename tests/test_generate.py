"""Generation core, offline: builtin:tiny and a tiny pipeline loaded back through from_pretrained.

Every image must leave watermarked (payload = the repository key of its manifest), signed (Trusted under the
keys-init anchor, AI-generated) and stored, so that a copy without metadata is traced back to its manifest.
Images are 512 px: the default watermark needs a few tiles of texture to synchronise on.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from forensics.analysers import VerifyOptions
from forensics.errors import ConfigError
from forensics.generate import GenerationRequest, load_generator
from forensics.provenance import watermark as wm
from forensics.provenance.keys import init_pki
from forensics.provenance.repository import ManifestRepository
from forensics.verify import Verifier

pytestmark = pytest.mark.slow  # torch + diffusers; each image is a few seconds on a shared 2-core CPU

SIDE = (512, 512)
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def tiny():
    return load_generator("builtin:tiny")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tiny):
    folder = tmp_path_factory.mktemp("tiny-pipeline")
    tiny.pipe.save_pretrained(folder)
    return folder


@pytest.fixture
def pki(forensics_home):
    return init_pki()


def _verify(path):
    return Verifier(VerifyOptions(detector=False)).verify(path)


def _assertion(manifest: dict, label: str) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def _strip(data: bytes, quality: int = 85) -> bytes:
    """Re-encode as JPEG without any metadata (what a social network does)."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _check_generated_and_recovered(img, tmp_path, model_id):
    path = tmp_path / f"out{img.extension}"
    path.write_bytes(img.data)
    rep = _verify(path)
    c = rep.credentials
    assert c.present and c.state == "Trusted", [s.code for s in c.statuses]
    assert c.digital_source_type == TRAINED and c.ai_generated
    assert c.manifest_id == img.manifest_id and c.recovered_from is None
    assert {"c2pa.created", "c2pa.watermarked"} <= set(c.actions)
    assert c.claim_generator.startswith("forensics-suite")
    assert rep.verdict.label == "ai-generated"
    [det] = [d for d in rep.watermarks.detected if d.scheme == wm.DEFAULT_SCHEME]
    assert det.payload == img.watermark
    # the manifest names the same soft binding, and the repository maps it to this manifest
    sb = _assertion(img.manifest, "c2pa.soft-binding")
    assert base64.b64decode(sb["blocks"][0]["value"]).hex() == img.watermark
    assert det.manifest_id == img.manifest_id
    gen = _assertion(img.manifest, "org.forensics-suite.generation")
    assert gen["model"]["id"] == model_id and gen["seed"] == img.seed
    assert (gen["width"], gen["height"]) == (img.width, img.height)

    copy = tmp_path / "stripped.jpg"
    copy.write_bytes(_strip(img.data))
    rep = _verify(copy)
    c = rep.credentials
    assert c.present and c.recovered_from == "watermark"
    assert c.manifest_id == img.manifest_id and c.state == "Trusted"
    codes = [s.code for s in c.statuses]
    assert "forensics.manifest.recovered" in codes and "forensics.contentHash.unchecked" in codes
    assert rep.verdict.label == "ai-generated"
    assert any("recovered through the invisible watermark" in r for r in rep.verdict.reasons)
    return rep


def test_builtin_tiny_signed_marked_stored_and_recovered(tiny, pki, tmp_path):
    [img] = tiny.generate(GenerationRequest("a lighthouse at dusk", seed=11, size=SIDE))
    assert img.media_type == "image/png" and (img.width, img.height) == SIDE
    _check_generated_and_recovered(img, tmp_path, "builtin:tiny")
    rec = ManifestRepository().get(img.manifest_id)
    assert rec.watermark_scheme == wm.DEFAULT_SCHEME and rec.watermark_value == img.watermark
    assert rec.phash and rec.signer_chain_pem


def test_from_pretrained_folder(tiny_folder, pki, tmp_path):
    gen = load_generator(str(tiny_folder))
    assert gen.model_id == str(tiny_folder) and len(gen.weights_sha256) == 64
    # a folder is not recognised as a turbo/tiny family: the library default is 30 steps, so name the settings
    [img] = gen.generate(GenerationRequest("a harbour", seed=3, size=SIDE, format="jpeg", steps=2, guidance=1.0))
    assert img.media_type == "image/jpeg"
    _check_generated_and_recovered(img, tmp_path, str(tiny_folder))
    model = _assertion(img.manifest, "org.forensics-suite.generation")["model"]
    assert model["weights_sha256"] == gen.weights_sha256 and model["pipeline"] == "StableDiffusionPipeline"


def test_reproducible_before_the_watermark(tiny, tiny_folder, pki):
    req = GenerationRequest("same seed, same image", seed=1234, size=(256, 256), steps=2, guidance=1.0)
    [(_, a, _)] = tiny._sample(req)
    [(_, b, _)] = tiny._sample(req)
    assert a.dtype == np.uint8 and np.array_equal(a, b)
    [(_, other, _)] = tiny._sample(GenerationRequest("same seed, same image", seed=1235, size=(256, 256),
                                                    steps=2, guidance=1.0))
    assert not np.array_equal(a, other)
    # the saved-and-reloaded pipeline is the same model
    [(_, c, _)] = load_generator(str(tiny_folder))._sample(req)
    assert np.array_equal(a, c)
    # generate() marks exactly those pixels, with a fresh payload each time; .pixels are the marked ones
    [g1] = tiny.generate(req)
    [g2] = tiny.generate(req)
    assert not np.array_equal(g1.pixels, a)
    found = {d.scheme: d for d in wm.detect(g1.pixels, schemes=[wm.DEFAULT_SCHEME])}
    assert found[wm.DEFAULT_SCHEME].detected and found[wm.DEFAULT_SCHEME].payload == g1.watermark
    assert not np.array_equal(g1.pixels, g2.pixels)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(g1.data)).convert("RGB")), g1.pixels)  # as signed
    assert g1.watermark != g2.watermark and g1.manifest_id != g2.manifest_id


def test_batch_every_image_marked_and_signed(tiny, pki):
    imgs = tiny.generate(GenerationRequest("two of them", seed=40, n=2, size=SIDE, format="webp"))
    assert [i.seed for i in imgs] == [40, 41]
    assert len({i.watermark for i in imgs}) == 2 and len({i.manifest_id for i in imgs}) == 2
    repo = ManifestRepository()
    for img in imgs:
        assert img.media_type == "image/webp"
        rgb = np.asarray(Image.open(io.BytesIO(img.data)).convert("RGB"))
        [det] = wm.detect(rgb, schemes=[wm.DEFAULT_SCHEME])
        assert det.detected and det.payload == img.watermark
        assert repo.by_watermark(wm.DEFAULT_SCHEME, img.watermark).manifest_id == img.manifest_id


def test_private_prompt_and_progress(tiny, pki):
    seen = []
    [img] = tiny.generate(GenerationRequest("secret source briefing", negative_prompt="blur", seed=5,
                                            size=(256, 256), private_prompt=True),
                          progress=lambda done, total: seen.append((done, total)))
    gen = _assertion(img.manifest, "org.forensics-suite.generation")
    assert "prompt" not in gen and "negative_prompt" not in gen
    import hashlib

    assert gen["prompt_sha256"] == hashlib.sha256(b"secret source briefing").hexdigest()
    assert b"secret source briefing" not in img.data
    assert seen and seen[-1] == (2, 2) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_image_to_image_and_inpainting_keep_the_parent(tiny, pki, tmp_path):
    [src] = tiny.generate(GenerationRequest("the original", seed=8, size=SIDE))
    [edit] = tiny.generate(GenerationRequest("an edit", seed=9, init_image=src.data, strength=0.5))
    assert (edit.width, edit.height) == SIDE  # follows the source's size
    mask = np.zeros((512, 512), np.uint8)
    mask[128:384, 128:384] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, "PNG")
    [inpainted] = tiny.generate(GenerationRequest("a patch", seed=10, init_image=src.data, mask=buf.getvalue()))
    for img, mode in ((edit, "image-to-image"), (inpainted, "inpainting")):
        path = tmp_path / f"{mode}.png"
        path.write_bytes(img.data)
        c = _verify(path).credentials
        assert c.state == "Trusted" and c.digital_source_type == COMPOSITE and c.ai_generated
        assert "c2pa.opened" in c.actions and "c2pa.watermarked" in c.actions
        assert _assertion(img.manifest, "org.forensics-suite.generation")["mode"] == mode
        [parent] = [i for i in c.ingredients if i.get("relationship") == "parentOf"]
        # the source's own credentials travel inside the ingredient
        assert parent["manifest_id"] == src.manifest_id and parent["digital_source_type"] == TRAINED


def test_lora_applied_and_named(tiny, pki, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from forensics.generate.tiny import build_tiny_pipeline

    unet = build_tiny_pipeline().unet
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    torch.manual_seed(0)
    for name, p in unet.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (a no-op adapter); make it change something
            p.data.normal_(0, 0.5)
    lora_dir = tmp_path / "tiny-lora"
    StableDiffusionPipeline.save_lora_weights(lora_dir, unet_lora_layers=convert_state_dict_to_diffusers(
        get_peft_model_state_dict(unet)))
    gen = load_generator("builtin:tiny", lora=str(lora_dir))
    req = GenerationRequest("styled", seed=2, size=(256, 256))
    [img] = gen.generate(req)
    [(_, plain, _)] = tiny._sample(req)
    [(_, styled, _)] = gen._sample(req)
    assert np.abs(styled.astype(int) - plain).mean() > 1.0  # the adapter changed the image
    [lora] = _assertion(img.manifest, "org.forensics-suite.generation")["lora"]
    import hashlib

    weights = lora_dir / "pytorch_lora_weights.safetensors"
    assert lora == {"name": "tiny-lora", "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "scale": 1.0}


@pytest.fixture(scope="module")
def tiny_sdxl_folder(tmp_path_factory):
    """A random-weight SDXL pipeline (two text encoders, text_time conditioning) saved like a hub checkpoint."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from forensics.generate.tiny import build_tiny_pipeline, write_tiny_tokenizer_files

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=8)
    tok_dir = tmp_path_factory.mktemp("sdxl-tok")
    write_tiny_tokenizer_files(tok_dir)
    tok = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    cfg = CLIPTextConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                         vocab_size=len(tok), projection_dim=32)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    pipe = StableDiffusionXLPipeline(vae=build_tiny_pipeline().vae, text_encoder=CLIPTextModel(cfg),
                                     text_encoder_2=CLIPTextModelWithProjection(cfg), tokenizer=tok,
                                     tokenizer_2=tok, unet=unet, scheduler=scheduler, add_watermarker=True)
    folder = tmp_path_factory.mktemp("tiny-sdxl")
    pipe.save_pretrained(folder)
    return folder


def test_sdxl_same_code_path_and_one_mark(tiny_sdxl_folder, pki, tmp_path):
    from diffusers.pipelines.stable_diffusion_xl.watermark import StableDiffusionXLWatermarker

    gen = load_generator(str(tiny_sdxl_folder))
    assert gen.pipeline_class == "StableDiffusionXLPipeline"
    assert gen.pipe.watermark is None  # from_pretrained turned diffusers' mark on; the generator turned it off
    req = GenerationRequest("a dual-encoder model", seed=1, steps=2, guidance=1.0)
    [img] = gen.generate(req)
    assert (img.width, img.height) == (256, 256)  # the model's native size
    path = tmp_path / "sdxl.png"
    path.write_bytes(img.data)
    rep = _verify(path)
    assert rep.credentials.state == "Trusted" and rep.credentials.ai_generated
    found = {d.scheme: d for d in rep.watermarks.detections}
    assert found[wm.DEFAULT_SCHEME].detected and found[wm.DEFAULT_SCHEME].payload == img.watermark
    assert not found["sdxl-dwtDct"].detected  # no second mark
    # control: had diffusers' watermarker run, its mark would be there (so the check above can fail)
    gen.pipe.watermark = StableDiffusionXLWatermarker()
    [(_, marked_by_diffusers, _)] = gen._sample(req)
    assert [d.detected for d in wm.detect(marked_by_diffusers, schemes=["sdxl-dwtDct"])] == [True]


def test_bad_requests_are_clear_errors(tiny, pki):
    for req, words in [
        (GenerationRequest(""), "prompt is empty"),
        (GenerationRequest("x", size=(100, 64)), "multiples of 8"),
        (GenerationRequest("x", mask=b"123"), "needs --init-image"),
        (GenerationRequest("x", format="gif"), "unknown format"),
        (GenerationRequest("x", n=0), "n must be"),
        (GenerationRequest("x", strength=1.5, init_image=b"x"), "strength"),
    ]:
        with pytest.raises(ConfigError, match=words):
            tiny.generate(req)
    from forensics.errors import MediaError

    with pytest.raises(MediaError, match="not a readable image"):
        tiny.generate(GenerationRequest("x", init_image=b"not an image"))


def test_unknown_model_offline_is_one_line(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ConfigError, match="not found locally and no network") as exc:
        load_generator("nobody-here/no-such-model", device="cpu")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="no model_index.json"):
        load_generator(str(tmp_path), device="cpu")
    with pytest.raises(ConfigError, match="no such folder"):
        load_generator("./missing/folder", device="cpu")
