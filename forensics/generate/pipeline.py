"""The generation core: any diffusers text-to-image pipeline, watermarked and signed at decode time.

One code path for every model: ``DiffusionPipeline.from_pretrained`` (hub id or local folder), image-to-image
and inpainting through ``AutoPipelineFor*.from_pipe`` (same weights, no reload). The pipeline always decodes
to float pixels (``output_type="np"``; callers cannot ask for latents), which are turned into uint8 exactly
once and then, per image and in this order: watermarked with a fresh payload, encoded, C2PA-signed, stored in
the manifest repository. diffusers' own SDXL watermarker is switched off so there is one mark, ours.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import io
import logging
import os
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError, ForensicsError, MediaError
from .limits import HARD_LIMITS, GenerationLimits, check_request
from .tiny import TINY_ID
from .types import FORMATS, GeneratedImage, GenerationRequest, ProgressCallback

log = logging.getLogger(__name__)

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
GENERATION_LABEL = "org.forensics-suite.generation"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
CLAIM_GENERATOR = f"forensics-suite/{__version__}"
DEFAULT_MODEL = "stabilityai/sd-turbo"
MAX_SIDE = HARD_LIMITS.max_side
MAX_IMAGES = HARD_LIMITS.max_images

# Model-family defaults as data: first matching substring of the model id (lowercase) wins.
FAMILY_DEFAULTS: tuple[tuple[str, dict], ...] = (
    (TINY_ID, {"steps": 2, "guidance": 1.0, "strength": 0.75}),
    ("turbo", {"steps": 1, "guidance": 0.0, "strength": 0.5}),  # sd-turbo, sdxl-turbo: no CFG
    ("flux.1-schnell", {"steps": 4, "guidance": 0.0, "strength": 0.6}),
    ("lcm", {"steps": 4, "guidance": 1.0, "strength": 0.6}),
    ("", {"steps": 30, "guidance": None, "strength": 0.75}),  # None: the pipeline's own default
)


class GenerationError(ForensicsError):
    code = "generation"


class SafetyRefusal(GenerationError):
    """The pipeline's safety checker flagged an image; nothing was signed or stored for it."""

    code = "safety"


@dataclass
class LoraInfo:
    path: str
    name: str
    sha256: str
    scale: float = 1.0

    def to_json(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "scale": self.scale}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _weights_sha256(folder: Path) -> str:
    """One SHA-256 over every weight and config file of a local pipeline folder (path-ordered)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model", ".pt", ".pth"):
            h.update(str(p.relative_to(folder)).encode() + b"\0" + _sha256_file(p).encode())
    return h.hexdigest()


def _module_sha256(pipe) -> str:
    """SHA-256 over the in-memory parameters of every torch module of a pipeline (for builtin:tiny)."""
    h = hashlib.sha256()
    for name, comp in sorted(pipe.components.items()):
        sd = getattr(comp, "state_dict", None)
        if sd is None:
            continue
        for k, v in sorted(sd().items()):
            h.update(f"{name}.{k}".encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _lora_info(path: str, scale: float = 1.0) -> LoraInfo:
    p = Path(path).expanduser()
    if p.is_file():
        digest = _sha256_file(p)
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*.safetensors")) or sorted(f for f in p.rglob("*.bin"))
        if not files:
            raise ConfigError(f"--lora {path}: no .safetensors or .bin weights in that folder")
        h = hashlib.sha256()
        for f in files:
            h.update(_sha256_file(f).encode())
        digest = h.hexdigest() if len(files) > 1 else _sha256_file(files[0])
    else:
        raise ConfigError(f"--lora {path}: no such file or folder")
    return LoraInfo(path=str(p), name=p.stem if p.is_file() else p.name, sha256=digest, scale=scale)


def _family(model_id: str) -> dict:
    mid = model_id.lower()
    for key, defaults in FAMILY_DEFAULTS:
        if key in mid:
            return defaults
    return FAMILY_DEFAULTS[-1][1]


def accepts_keyword(fn, name: str) -> bool:
    """Whether ``fn`` takes keyword ``name`` (diffusers pipelines differ in what their __call__ accepts)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _default_of(fn, name: str):
    try:
        p = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def _to_uint8(images) -> np.ndarray:
    """Pipeline float output in [0, 1] → uint8, the one and only quantisation."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    return (arr * 255.0).round().clip(0, 255).astype(np.uint8)


def _open_image(data: bytes, what: str):
    from ..config import DEFAULT_MAX_PIXELS
    from ..imaging import exif_transposed
    from ..media import open_image

    try:
        img = open_image(data, max_pixels=DEFAULT_MAX_PIXELS, what=what)
    except MediaError as exc:
        if exc.code == "too_large":
            raise
        raise MediaError(f"{what} is not a readable image: {exc.message}", code=exc.code) from None
    return exif_transposed(img)


def encode(pixels: np.ndarray, fmt: str) -> tuple[bytes, str]:
    """uint8 RGB → file bytes. JPEG/WebP at quality 95 (the watermark is made to survive far lower)."""
    from PIL import Image

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use png, jpeg or webp")
    buf = io.BytesIO()
    img = Image.fromarray(pixels, "RGB")
    if FORMATS[fmt] == "image/png":
        img.save(buf, "PNG", compress_level=3)  # 3: most of level 6's size at a fraction of its time
    elif FORMATS[fmt] == "image/jpeg":
        img.save(buf, "JPEG", quality=95, subsampling=0)
    else:
        img.save(buf, "WEBP", quality=95, method=3)
    return buf.getvalue(), FORMATS[fmt]


def _watermark_api():
    try:
        from ..provenance import watermark as wm
    except ImportError as exc:  # pragma: no cover - the package ships with the suite
        raise GenerationError(f"the watermark module is not available: {exc}") from None
    for attr in ("DEFAULT_SCHEME", "PAYLOAD_BYTES", "embed"):
        if not hasattr(wm, attr):
            raise GenerationError(f"forensics.provenance.watermark lacks {attr}; cannot mark images")
    return wm


def soft_binding_alg(wm) -> str:
    """The C2PA soft-binding algorithm name recorded for the default watermark scheme."""
    return getattr(wm, "C2PA_ALG", None) or f"org.forensics-suite.{wm.DEFAULT_SCHEME}"


def soft_binding_assertion(payload: bytes, wm=None) -> dict:
    """The ``c2pa.soft-binding`` assertion for a watermark payload (c2pa requires one beside
    ``c2pa.watermarked``): algorithm, scheme name, and the payload base64-encoded over the whole image."""
    wm = wm or _watermark_api()
    return {"label": SOFT_BINDING_LABEL, "data": {
        "alg": soft_binding_alg(wm), "name": wm.DEFAULT_SCHEME,
        "blocks": [{"scope": {}, "value": base64.b64encode(payload).decode("ascii")}]}}


class Generator:
    """A loaded pipeline plus the provenance it stamps on every image. Create with :func:`load_generator`."""

    def __init__(self, pipe, *, model_id: str, revision: str | None, weights_sha256: str | None,
                 identity=None, registry_url: str | None = None, lora: LoraInfo | None = None,
                 device: str = "cpu"):
        self.pipe = pipe
        self.model_id = model_id
        self.revision = revision
        self.weights_sha256 = weights_sha256
        self.identity = identity
        self.registry_url = registry_url
        self.lora = lora
        self.device = device
        self._derived: dict[str, Any] = {}
        self._repo = None
        self.limits: GenerationLimits = HARD_LIMITS
        self._prepare(pipe)

    # -- properties -------------------------------------------------------------------------
    @property
    def is_builtin_tiny(self) -> bool:
        return self.model_id == TINY_ID

    @property
    def has_safety_checker(self) -> bool:
        return getattr(self.pipe, "safety_checker", None) is not None

    @property
    def pipeline_class(self) -> str:
        return type(self.pipe).__name__

    def defaults(self) -> dict:
        return dict(_family(self.model_id))

    def native_size(self) -> tuple[int, int]:
        """(width, height) the pipeline produces when not told otherwise."""
        unet = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        factor = getattr(self.pipe, "vae_scale_factor", 8) or 8
        sample = getattr(getattr(unet, "config", None), "sample_size", None)
        if isinstance(sample, (list, tuple)):
            sample = sample[0]
        side = int(sample) * int(factor) if sample else getattr(self.pipe, "default_sample_size", 64) * 8
        return side, side

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _prepare(pipe) -> None:
        if getattr(pipe, "watermark", None) is not None:  # SDXL's invisible-watermark: ours is the one mark
            pipe.watermark = None
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)  # progress goes through our callback

    def _pipeline_for(self, mode: str):
        if mode == "text-to-image":
            return self.pipe
        if mode not in self._derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if mode == "image-to-image" else AutoPipelineForInpainting
            try:
                derived = auto.from_pipe(self.pipe)
            except (ValueError, KeyError, AttributeError) as exc:
                raise GenerationError(f"{self.model_id} ({self.pipeline_class}) has no {mode} pipeline in "
                                      f"diffusers: {exc}") from None
            self._prepare(derived)
            self._derived[mode] = derived
        return self._derived[mode]

    def _repository(self):
        from .. import config
        from ..provenance.repository import ManifestRepository

        url = config.registry_url(self.registry_url)  # None follows $FORENSICS_REGISTRY as it is now
        if self._repo is None or self._repo.url != url:
            self._repo = ManifestRepository(url)
        return self._repo

    def _identity(self):
        if self.identity is not None:
            return self.identity
        from ..provenance.signing import SigningIdentity

        return SigningIdentity.default()  # read per call (two small files); ConfigError: run `keys init`

    def _size(self, req: GenerationRequest) -> tuple[int, int]:
        if req.size is None:
            return self.native_size()
        w, h = (int(v) for v in req.size)
        if getattr(self.pipe, "transformer", None) is not None:  # patchified latents: twice the multiple
            check_request(replace(self.limits, side_multiple=16, min_side=max(16, self.limits.min_side)),
                          size=(w, h))
        return w, h

    def _validate(self, req: GenerationRequest) -> None:
        if not isinstance(req.prompt, str) or not req.prompt.strip():
            raise ConfigError("the prompt is empty")
        if req.format.lower() not in FORMATS:
            raise ConfigError(f"unknown format {req.format!r}; use png, jpeg or webp")
        if req.mask is not None and req.init_image is None:
            raise ConfigError("--mask needs --init-image")
        size = tuple(req.size) if req.size is not None else None
        check_request(self.limits, steps=req.steps, seed=req.seed, size=size, guidance=req.guidance, n=req.n,
                      strength=req.strength)

    # -- the public call --------------------------------------------------------------------
    def _sample(self, req: GenerationRequest, progress: ProgressCallback | None = None
                ) -> list[tuple[int, np.ndarray, dict]]:
        """Run the sampler and decode: [(seed, uint8 HxWx3 pixels BEFORE the watermark, settings)].

        Private: unmarked pixels never leave the generator. The public call is :meth:`generate`, which marks,
        signs and stores every image. Deterministic for a given model, seed and settings on CPU.
        """
        import torch

        self._validate(req)
        defaults = self.defaults()
        mode = "text-to-image" if req.init_image is None else ("inpainting" if req.mask else "image-to-image")
        pipe = self._pipeline_for(mode)
        steps = int(req.steps or defaults["steps"])
        guidance = req.guidance if req.guidance is not None else defaults["guidance"]
        width, height = self._size(req)
        base_seed = int(req.seed) if req.seed is not None else secrets.randbelow(2**31)
        call = pipe.__call__
        kwargs: dict[str, Any] = {"prompt": req.prompt, "num_inference_steps": steps, "output_type": "np"}
        if guidance is None:  # record what the pipeline will actually use
            guidance = _default_of(call, "guidance_scale")
        if guidance is not None and accepts_keyword(call, "guidance_scale"):
            kwargs["guidance_scale"] = float(guidance)
        if req.negative_prompt:
            if not accepts_keyword(call, "negative_prompt"):
                raise ConfigError(f"{type(pipe).__name__} does not take a negative prompt")
            kwargs["negative_prompt"] = req.negative_prompt
        strength = None
        if mode == "text-to-image":
            kwargs.update(width=width, height=height)
        else:
            init = _open_image(req.init_image, "the init image").convert("RGB")
            if req.size is None:  # an edit keeps the source's size (multiples of 8, long side <= MAX_SIDE)
                width, height = _fit(init.size, min(MAX_SIDE, max(init.size)))
            init = init.resize((width, height))
            kwargs["image"] = init
            strength = float(req.strength if req.strength is not None else defaults["strength"])
            if int(steps * strength) < 1:  # diffusers would run zero steps; one step is the least we can do
                steps = int(np.ceil(1.0 / strength))
                kwargs["num_inference_steps"] = steps
            kwargs["strength"] = strength
            if mode == "inpainting":
                mask = _open_image(req.mask, "the mask").convert("L").resize((width, height))
                kwargs["mask_image"] = mask
                kwargs.update(width=width, height=height)
        if self.lora is not None:  # UNet pipelines take the LoRA scale here, SD3/FLUX transformers there
            for name in ("cross_attention_kwargs", "joint_attention_kwargs"):
                if name in inspect.signature(call).parameters:
                    kwargs[name] = {"scale": self.lora.scale}
                    break

        n = int(req.n)
        done = [0]
        total = [n * steps]

        def on_step(p, i, t, cb_kwargs):
            if progress is not None:
                per_image = getattr(p, "num_timesteps", None) or steps
                total[0] = n * per_image
                done[0] += 1
                progress(min(done[0], total[0]), total[0])
            return cb_kwargs

        if progress is not None and accepts_keyword(call, "callback_on_step_end"):
            kwargs["callback_on_step_end"] = on_step
        out = []
        for i in range(n):
            seed = base_seed + i
            # a CPU generator gives the same noise on every device: the same seed means the same image
            kwargs["generator"] = torch.Generator("cpu").manual_seed(seed)
            t0 = time.perf_counter()
            with torch.inference_mode():
                result = pipe(**kwargs)
            nsfw = getattr(result, "nsfw_content_detected", None)
            if nsfw and any(nsfw):
                raise SafetyRefusal(f"the model's safety checker flagged image {i + 1} (seed {seed}); "
                                    "nothing was written")
            pixels = _to_uint8(result.images)[0]
            settings = {"mode": mode, "steps": steps, "guidance": guidance, "width": int(pixels.shape[1]),
                        "height": int(pixels.shape[0]), "strength": strength,
                        "sample_ms": (time.perf_counter() - t0) * 1000}
            out.append((seed, pixels, settings))
        if progress is not None:
            progress(total[0], total[0])
        return out

    def generate(self, req: GenerationRequest, progress: ProgressCallback | None = None) -> list[GeneratedImage]:
        """Sample, then watermark + encode + sign + store every image. Returns the signed files."""
        self._validate(req)
        wm = _watermark_api()
        identity = self._identity()
        repo = self._repository()
        images = []
        for seed, pixels, settings in self._sample(req, progress):
            images.append(self._finish(req, seed, pixels, settings, wm, identity, repo))
        return images

    def _finish(self, req, seed, pixels, settings, wm, identity, repo) -> GeneratedImage:
        """The provenance stage for one decoded image: mark → encode → sign → store."""
        from ..provenance.content_match import describe
        from ..provenance.repository import fingerprint
        from ..provenance.signing import sign_bytes

        timings = {"sample": settings.pop("sample_ms")}
        t = time.perf_counter()
        payload = secrets.token_bytes(int(wm.PAYLOAD_BYTES))
        while repo.watermark_taken(wm.DEFAULT_SCHEME, payload.hex()):  # payloads are the repository's key
            payload = secrets.token_bytes(int(wm.PAYLOAD_BYTES))
        marked = np.ascontiguousarray(wm.embed(pixels, payload), dtype=np.uint8)
        timings["watermark"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        data, media_type = encode(marked, req.format)
        timings["encode"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        edit = settings["mode"] != "text-to-image"
        actions = self._actions(settings, edit)
        assertions = [
            soft_binding_assertion(payload, wm),
            {"label": GENERATION_LABEL, "data": self._generation_record(req, seed, settings)},
        ]
        parent_type = None
        if edit:
            from ..media import sniff

            parent_type = sniff(req.init_image[:64])
        try:
            signed = sign_bytes(data, media_type, identity=identity, title=req.title or "AI-generated image",
                                actions=actions, digital_source_type=COMPOSITE if edit else TRAINED,
                                assertions=assertions, parent=req.init_image if edit else None,
                                parent_media_type=parent_type, claim_generator=CLAIM_GENERATOR,
                                parent_title="source image" if edit else None)
        except MediaError:
            raise
        timings["sign"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        credentials = _signing_time_credentials(signed.manifest_json)
        repo.store(manifest_id=signed.manifest_id, manifest_store=signed.manifest_json,
                   watermark_scheme=wm.DEFAULT_SCHEME, watermark_value=payload.hex(),
                   phash=fingerprint(marked), media_type=media_type, validation_state=credentials["state"],
                   credentials=credentials, signer_chain_pem=identity.cert_chain_pem,
                   manifest_store_bytes=signed.manifest_store_bytes, content_descriptor=describe(marked))
        timings["store"] = (time.perf_counter() - t) * 1000
        return GeneratedImage(data=signed.data, media_type=media_type, manifest_id=signed.manifest_id,
                              watermark=payload.hex(), seed=seed, width=settings["width"],
                              height=settings["height"], manifest=signed.manifest, timings_ms=timings,
                              pixels=marked)

    def _actions(self, settings: dict, edit: bool) -> list[dict]:
        agent = {"name": self.model_id}
        if self.revision or self.weights_sha256:
            agent["version"] = self.revision or self.weights_sha256[:16]
        if edit:
            first = [{"action": "c2pa.opened"},
                     {"action": "c2pa.edited", "softwareAgent": agent, "digitalSourceType": COMPOSITE,
                      "description": f"{settings['mode']} with a generative model"}]
        else:
            first = [{"action": "c2pa.created", "softwareAgent": agent}]
        return first + [{"action": "c2pa.watermarked", "softwareAgent": {"name": "forensics-suite",
                                                                          "version": __version__}}]

    def _generation_record(self, req: GenerationRequest, seed: int, settings: dict) -> dict:
        scheduler = getattr(self.pipe, "scheduler", None)
        rec: dict[str, Any] = {
            "model": {"id": self.model_id, "revision": self.revision, "weights_sha256": self.weights_sha256,
                      "pipeline": self.pipeline_class},
            "scheduler": type(scheduler).__name__ if scheduler is not None else None,
            "mode": settings["mode"], "steps": settings["steps"], "guidance": settings["guidance"],
            "seed": seed, "width": settings["width"], "height": settings["height"],
        }
        if settings.get("strength") is not None:
            rec["strength"] = settings["strength"]
        if req.private_prompt:
            rec["prompt_sha256"] = hashlib.sha256(req.prompt.encode()).hexdigest()
            if req.negative_prompt:
                rec["negative_prompt_sha256"] = hashlib.sha256(req.negative_prompt.encode()).hexdigest()
        else:
            rec["prompt"] = req.prompt
            if req.negative_prompt:
                rec["negative_prompt"] = req.negative_prompt
        if self.lora is not None:
            rec["lora"] = [self.lora.to_json()]
        return rec


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """Scale (w, h) so the long side is ``side``, both multiples of 8."""
    w, h = size
    s = side / max(w, h)
    return max(8, int(round(w * s / 8)) * 8), max(8, int(round(h * s / 8)) * 8)


def _signing_time_credentials(store: dict) -> dict:
    """The credentials finding of the freshly signed file (signature checked; trust is judged at recovery)."""
    from ..provenance.credentials import finding_from_store

    return finding_from_store(store).to_json()


def _resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available")
    return device


_OFFLINE_WORDS = ("offline", "connect", "not fully cached", "outgoing traffic", "resolve", "network",
                  "timed out")


def _offline_message(model: str) -> str:
    return (f"model {model!r} not found locally and no network (or the hub refused it); download it once "
            "with network access, pass a local folder, or use --model builtin:tiny for an offline demo")


def _load_pipeline(model: str, device: str):
    """(pipeline, revision, weights_sha256) for a hub id or a local folder."""
    import torch
    from diffusers import DiffusionPipeline

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            raise ConfigError(f"{model}: not a diffusers pipeline folder (no model_index.json)")
        try:
            pipe = DiffusionPipeline.from_pretrained(str(local), torch_dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the pipeline in {model}: {exc}") from None
        return pipe, None, _weights_sha256(local)
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ConfigError(f"model {model!r}: no such folder, and not a hub id of the form owner/name")
    try:
        folder = DiffusionPipeline.download(model)
        pipe = DiffusionPipeline.from_pretrained(folder, torch_dtype=dtype)
    except Exception as exc:  # hub, network and cache errors come in many types; each means "cannot get it"
        if isinstance(exc, (KeyboardInterrupt, MemoryError)):
            raise
        log.debug("loading %s failed", model, exc_info=True)
        cls, text = type(exc).__name__, str(exc).lower()
        if cls in ("RepositoryNotFoundError", "GatedRepoError") or "404" in text:
            raise ConfigError(f"model {model!r} not found on the Hugging Face hub (check the id; gated models "
                              "need `hf auth login`)") from None
        if cls in ("LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError") or any(
                w in text for w in _OFFLINE_WORDS):
            raise ConfigError(_offline_message(model)) from None
        raise ConfigError(f"cannot load model {model!r}: {cls}: {str(exc).splitlines()[0] if str(exc) else ''}"
                          ) from None
    folder = Path(folder)
    revision = folder.name if folder.parent.name == "snapshots" else None
    return pipe, revision, None if revision else _weights_sha256(folder)


def load_generator(model: str = DEFAULT_MODEL, *, device: str | None = None, identity=None,
                   registry_url: str | None = None, lora: str | None = None,
                   lora_scale: float = 1.0) -> Generator:
    """Load a pipeline once (hub id, local folder, or ``builtin:tiny``) and wrap it in a :class:`Generator`.

    ``identity``: a :class:`~forensics.provenance.signing.SigningIdentity`; None: the ``keys init`` default,
    looked up at the first :meth:`Generator.generate`. ``registry_url``: the manifest repository (None:
    ``$FORENSICS_REGISTRY`` or the default SQLite file).
    """
    dev = _resolve_device(device)
    if model == TINY_ID:
        from .tiny import build_tiny_pipeline

        pipe = build_tiny_pipeline()
        revision, weights = None, _module_sha256(pipe)
    else:
        pipe, revision, weights = _load_pipeline(model, dev)
    info = None
    if lora:
        info = _lora_info(lora, lora_scale)
        if not hasattr(pipe, "load_lora_weights"):
            raise ConfigError(f"{type(pipe).__name__} does not support LoRA weights")
        try:
            pipe.load_lora_weights(info.path)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ConfigError(f"cannot apply LoRA {lora}: {exc}") from None
    pipe = pipe.to(dev)
    return Generator(pipe, model_id=model, revision=revision, weights_sha256=weights, identity=identity,
                     registry_url=registry_url, lora=info, device=dev)
