"""The newsroom API: signed generation, verification, manifest lookup and C2PA Soft Binding Resolution,
plus the verification web page. Build it with :func:`create_app`; ``forensics serve`` runs it on uvicorn.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import math
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..errors import ForensicsError
from ..generate.limits import check_request
from .middleware import SecurityHeaders
from .pool import VerifyPool, WorkerCrashed
from .policy import PromptPolicy
from .ratelimit import RateLimiter
from .settings import ServiceSettings
from .store import KeyInfo, ServiceStore, prompt_digest
from .uploads import receive_upload
from .worker import GenerationWorker, GeneratorUnavailable, JobCancelled, QueueFull

log = logging.getLogger("forensics.service")
STATIC = Path(__file__).parent / "static"


# -- request bodies --------------------------------------------------------------------------------
class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=2000)
    negative_prompt: str | None = Field(None, max_length=2000)
    # ranges: forensics.generate.limits.check_request, with the server's limits (one place for every entry point)
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    size: tuple[int, int] | None = Field(None, description='"WxH" (e.g. "512x512") or [w, h]')
    format: Literal["png", "jpeg", "webp"] = "png"
    private_prompt: bool | None = Field(None, description="store only the prompt's SHA-256 in the manifest "
                                                          "(default: the server's setting)")

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any):
        if isinstance(v, str):
            w, sep, h = v.lower().partition("x")
            if not sep or not w.strip().isdigit() or not h.strip().isdigit():
                raise ValueError('size must look like "512x512"')
            return int(w), int(h)
        return v


class BindingQuery(BaseModel):
    alg: str = Field(max_length=200)
    value: str = Field(max_length=4096)


def _seconds_to_utc_midnight() -> int:
    now = datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _error_json(code: str, message: str, path: str) -> dict:
    """A verify-shaped object for a file that could not be processed at all."""
    from ..report import ErrorInfo, Report, Verdict

    r = Report(path=path, error=ErrorInfo(code, message), verdict=Verdict("error", [message]))
    return r.to_json()


# -- the app ---------------------------------------------------------------------------------------
def create_app(settings: ServiceSettings | None = None, *, generator: Any = None, identity: Any = None,
               store: ServiceStore | None = None) -> FastAPI:
    """Build the service.

    ``generator``: an already loaded generator object (tests inject a fake one) or a zero-argument factory;
    default: ``forensics.generate.load_generator(settings.model, ...)``, loaded once in the worker thread.
    ``identity``: the SigningIdentity handed to the generator (default: :func:`signing.load_identity`).
    """
    settings = settings or ServiceSettings.load()
    from .. import migrations

    migrations.upgrade(settings.resolved_database_url())
    policy = PromptPolicy.from_settings(settings)
    limiter = RateLimiter(settings.rate_per_minute, settings.burst)
    if settings.generate and generator is None and identity is None:
        from .signing import load_identity

        # now, not in the worker thread: a missing key fails here, and a key taken from the environment is
        # removed from it before any verification worker process is spawned (they would inherit it)
        identity = load_identity(settings)
    if store is None:
        checkpoint = None
        if identity is not None:  # the audit log's head is signed with the service's own key
            from .checkpoint import AuditCheckpoint

            checkpoint = AuditCheckpoint.for_settings(settings, identity, settings.resolved_database_url())
        store = ServiceStore(settings.resolved_database_url(), checkpoint=checkpoint)

    def load_model():
        if generator is not None:
            return generator() if callable(generator) and not hasattr(generator, "generate") else generator
        from ..generate import load_generator

        return load_generator(settings.model, device=settings.device, identity=identity,
                              registry_url=settings.resolved_registry_url())

    worker = GenerationWorker(load_model, settings.queue_size) if settings.generate else None
    limits = settings.generation_limits()
    pool: VerifyPool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal pool
        pool = app.state.verify_pool = VerifyPool(settings)
        pool.warm()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await run_in_threadpool(worker.stop)
            pool.close()

    app = FastAPI(title="forensics-suite newsroom API", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # the stock docs pages load scripts from a CDN; /openapi.json stays
                  description="Signed, watermarked generation; verification; manifest lookup; "
                              "C2PA Soft Binding Resolution.")
    app.state.settings = settings
    app.state.store = store
    app.state.worker = worker
    app.state.limiter = limiter
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["X-Manifest-Id"])
    # added last = outermost: its headers and its catch-all reach every answer, CORS preflights included
    app.add_middleware(SecurityHeaders, json_body_limit=1024 * 1024,
                       upload_paths=("/v1/verify", "/matches/byContent"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    bearer = HTTPBearer(auto_error=False, description="API key from `forensics keys create-api-key`")

    def access(scope: str, public: bool):
        async def dependency(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyInfo | None:
            if public:
                return None
            if creds is None:
                raise HTTPException(401, "an API key is required (Authorization: Bearer …)",
                                    headers={"WWW-Authenticate": "Bearer"})
            key = await run_in_threadpool(store.authenticate, creds.credentials)
            if key is None:
                raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
            if scope not in key.scopes:
                raise HTTPException(403, f"this API key lacks the '{scope}' scope")
            return key
        return dependency

    generate_access = access("generate", public=False)
    verify_access = access("verify", public=settings.public_verify)
    resolve_access = access("verify", public=settings.public_resolve)

    def get_pool() -> VerifyPool:
        if pool is None:  # used outside the lifespan (should not happen with uvicorn or TestClient as a context)
            raise HTTPException(503, "the service is starting")
        return pool

    @app.exception_handler(ForensicsError)
    async def _forensics_error(_request: Request, exc: ForensicsError):
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError):
        # FastAPI's own handler echoes the offending input, which may be NaN/Infinity (not JSON) or huge
        return JSONResponse({"detail": [_safe_error(e) for e in exc.errors()[:20]]}, status_code=422)

    # -- health and page ---------------------------------------------------------------------------
    @app.get("/healthz", tags=["service"])
    async def healthz():
        out: dict[str, Any] = {"status": "ok", "version": __version__}
        if worker is None:
            out["generator"] = {"state": "disabled"}
        else:
            out["generator"] = {"state": worker.state, "model": getattr(worker.generator, "model_id", settings.model),
                                "queue_waiting": worker.waiting, "queue_size": settings.queue_size}
        if pool is not None:
            out["verify_pending"] = pool.pending
        return out

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    # -- generation --------------------------------------------------------------------------------
    @app.post("/v1/generate", tags=["generation"], response_class=Response, responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/json": {}},
              "description": "the signed, watermarked image; header X-Manifest-Id. With `Accept: application/json` "
                             "(or ?response=json): JSON metadata with the image in base64"},
        401: {"description": "no or bad API key"}, 403: {"description": "key lacks the generate scope"},
        422: {"description": "invalid request, or refused by the newsroom's prompt policy / the model's safety checker"},
        429: {"description": "rate limit, daily quota or queue full; see Retry-After"},
        503: {"description": "the model is not available"}, 504: {"description": "generation timed out"}})
    async def generate(body: GenerateBody, request: Request, key: KeyInfo = Depends(generate_access)):
        if worker is None:
            raise HTTPException(503, "this server does not generate images (started without a model)")
        wait = limiter.check(key.key_id, key.rate_per_minute)
        if wait:
            raise HTTPException(429, "rate limit for this API key", headers={"Retry-After": str(math.ceil(wait))})
        try:
            check_request(limits, steps=body.steps, seed=body.seed, size=body.size, guidance=body.guidance)
        except ForensicsError as exc:
            raise HTTPException(422, exc.message) from None
        model_id = getattr(worker.generator, "model_id", None) or settings.model
        digest = prompt_digest(body.prompt)
        decision = policy.check(body.prompt)
        if not decision.allowed:
            await run_in_threadpool(store.audit, "refused", key_name=key.name, prompt_sha256=digest, model=model_id,
                                    detail=f"{decision.rule}: {decision.reason}")
            raise HTTPException(422, decision.reason)
        quota = key.daily_quota if key.daily_quota is not None else settings.daily_quota
        if not await run_in_threadpool(store.consume_quota, key.key_id, quota):
            raise HTTPException(429, f"daily quota of {quota} generations used up for this API key",
                                headers={"Retry-After": str(_seconds_to_utc_midnight())})
        params = dict(prompt=body.prompt, negative_prompt=body.negative_prompt, seed=body.seed, steps=body.steps,
                      guidance=body.guidance, size=body.size, format=body.format,
                      private_prompt=settings.private_prompt if body.private_prompt is None else body.private_prompt)
        try:
            job = worker.submit(params)
        except QueueFull as exc:
            await run_in_threadpool(store.refund_quota, key.key_id)
            raise HTTPException(429, "the generation queue is full", headers={"Retry-After": str(exc.retry_after)})
        except GeneratorUnavailable as exc:
            await run_in_threadpool(store.refund_quota, key.key_id)
            raise HTTPException(503, str(exc)) from None
        try:
            images = await asyncio.wait_for(asyncio.wrap_future(job.future), settings.generate_timeout_s)
        except TimeoutError:
            job.cancel()
            await run_in_threadpool(store.audit, "timeout", key_name=key.name, prompt_sha256=digest, model=model_id,
                                    detail=f"no result within {settings.generate_timeout_s:g} s")
            raise HTTPException(504, "generation timed out") from None
        except (GeneratorUnavailable, JobCancelled) as exc:
            raise HTTPException(503, str(exc)) from None
        except Exception as exc:
            refusal = _safety_refusal(exc)
            if refusal:
                await run_in_threadpool(store.audit, "refused", key_name=key.name, prompt_sha256=digest,
                                        model=model_id, detail=f"safety_checker: {refusal}")
                raise HTTPException(422, refusal) from None
            if isinstance(exc, ForensicsError) and exc.code == "generation":  # the request cannot be served
                await run_in_threadpool(store.audit, "failed", key_name=key.name, prompt_sha256=digest,
                                        model=model_id, detail=exc.message[:500])
                raise HTTPException(422, exc.message) from None
            log.exception("generation failed")
            await run_in_threadpool(store.audit, "failed", key_name=key.name, prompt_sha256=digest, model=model_id,
                                    detail=f"{type(exc).__name__}: {exc}"[:500])
            raise HTTPException(500, "generation failed; the error is in the server log") from None
        image = images[0] if isinstance(images, (list, tuple)) else images
        if getattr(image, "nsfw", False) or getattr(image, "safety_flagged", False):
            await run_in_threadpool(store.audit, "refused", key_name=key.name, prompt_sha256=digest, model=model_id,
                                    detail="safety_checker: the model's safety checker flagged the image")
            raise HTTPException(422, "the model's safety checker flagged the generated image; nothing was returned")
        await run_in_threadpool(store.audit, "generated", key_name=key.name, manifest_id=image.manifest_id,
                                prompt_sha256=digest, model=model_id)
        headers = {"X-Manifest-Id": image.manifest_id, "Cache-Control": "no-store"}
        if getattr(image, "watermark", None):
            headers["X-Watermark"] = str(image.watermark)
        if getattr(image, "seed", None) is not None:
            headers["X-Seed"] = str(image.seed)
        accept = request.headers.get("accept", "")
        if request.query_params.get("response") == "json" or ("application/json" in accept and "image/" not in accept):
            return JSONResponse({
                "manifest_id": image.manifest_id, "media_type": image.media_type, "model": model_id,
                "watermark": getattr(image, "watermark", None), "seed": getattr(image, "seed", None),
                "width": getattr(image, "width", None), "height": getattr(image, "height", None),
                "manifest": getattr(image, "manifest", None),
                "image_base64": base64.b64encode(image.data).decode("ascii")}, headers=headers)
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(image.media_type, "bin")
        headers["Content-Disposition"] = f'inline; filename="generated.{ext}"'
        return Response(image.data, media_type=image.media_type, headers=headers)

    # -- verification ------------------------------------------------------------------------------
    upload_doc = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}

    @app.post("/v1/verify", tags=["verification"], openapi_extra=upload_doc, responses={
        200: {"description": "the verify JSON object (CONTRACT.md) for the uploaded file"},
        413: {"description": "over the upload size limit"}, 415: {"description": "not an image or video we read"},
        422: {"description": "the file could not be processed (corrupt, too many pixels…); verify JSON with error"}})
    async def verify(request: Request, _key: KeyInfo | None = Depends(verify_access)):
        upload = await receive_upload(request, limit=settings.max_upload_bytes)
        try:
            if upload.media_type is None:
                return JSONResponse(_error_json("unsupported", "not a supported image or video (unrecognised "
                                                "content)", upload.filename), status_code=415)
            try:
                data = await get_pool().verify(upload.path, upload.filename)
            except WorkerCrashed as exc:
                return JSONResponse(_error_json("crashed", str(exc), upload.filename), status_code=422)
            return JSONResponse(data, status_code=200 if data.get("error") is None else 422)
        finally:
            upload.discard()

    # -- manifests and Soft Binding Resolution -----------------------------------------------------
    from .resolve import Resolver

    resolver = Resolver(settings.resolved_registry_url())

    from .resolve import C2PA_MEDIA_TYPE, prefers_c2pa

    def _manifest_answer(rec, request: Request, *, default_binary: bool, active_only: bool = False):
        """The binary manifest store (application/c2pa) or the JSON form, by the Accept header."""
        binary = prefers_c2pa(request.headers.get("accept"), default=default_binary)
        if binary and rec.manifest_store_bytes:
            return Response(rec.manifest_store_bytes, media_type=C2PA_MEDIA_TYPE, headers={"Vary": "Accept"})
        accept = (request.headers.get("accept") or "").lower()
        if binary and C2PA_MEDIA_TYPE in accept and "json" not in accept and "*/*" not in accept:
            raise HTTPException(406, "this manifest was stored before its binary store was kept; "
                                     "ask for application/json")
        return JSONResponse(rec.manifest if active_only else rec.manifest_store, headers={"Vary": "Accept"})

    @app.get("/v1/manifests/{manifest_id}", tags=["manifests"])
    async def get_manifest(manifest_id: str, request: Request, _key: KeyInfo | None = Depends(resolve_access)):
        rec = await run_in_threadpool(resolver.get, manifest_id)
        if rec is None:
            raise HTTPException(404, "no manifest with this ID in the repository")
        return _manifest_answer(rec, request, default_binary=False)

    @app.get("/services/supportedAlgorithms", tags=["soft binding resolution"])
    async def supported_algorithms(_key: KeyInfo | None = Depends(resolve_access)):
        return resolver.supported_algorithms()

    @app.get("/matches/byBinding", tags=["soft binding resolution"])
    async def matches_by_binding(alg: str = Query(max_length=200), value: str = Query(max_length=4096),
                                 max_results: int = Query(10, alias="maxResults", ge=1, le=100),
                                 _key: KeyInfo | None = Depends(resolve_access)):
        return await _by_binding(alg, value, max_results)

    @app.post("/matches/byBinding", tags=["soft binding resolution"])
    async def matches_by_large_binding(query: BindingQuery,
                                       max_results: int = Query(10, alias="maxResults", ge=1, le=100),
                                       _key: KeyInfo | None = Depends(resolve_access)):
        return await _by_binding(query.alg, query.value, max_results)

    async def _by_binding(alg: str, value: str, max_results: int):
        from .resolve import BadQuery

        try:
            matches = await run_in_threadpool(resolver.by_binding, alg, value, max_results)
        except BadQuery as exc:
            raise HTTPException(400, str(exc)) from None
        return {"matches": [m.to_json() for m in matches]}

    content_doc = {"requestBody": {"required": True, "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}}

    @app.post("/matches/byContent", tags=["soft binding resolution"], openapi_extra=content_doc)
    async def matches_by_content(request: Request, alg: str | None = Query(None, max_length=200),
                                 max_results: int = Query(10, alias="maxResults", ge=1, le=100),
                                 _key: KeyInfo | None = Depends(resolve_access)):
        from .resolve import BadQuery

        upload = await receive_upload(request, limit=settings.max_upload_bytes, allow_raw=True)
        try:
            if upload.media_type is None or not upload.media_type.startswith("image/"):
                raise HTTPException(415, "send an image (JPEG, PNG, WebP, TIFF, …)")
            try:
                matches = await get_pool().by_content(upload.path, alg, max_results)
            except BadQuery as exc:
                raise HTTPException(400, str(exc)) from None
            except WorkerCrashed as exc:
                raise HTTPException(422, str(exc)) from None
            return {"matches": [m.to_json() for m in matches]}
        finally:
            upload.discard()

    @app.get("/manifests/{manifest_id}", tags=["soft binding resolution"])
    async def soft_binding_manifest(manifest_id: str, request: Request,
                                    return_active: bool = Query(False, alias="returnActiveManifest"),
                                    _key: KeyInfo | None = Depends(resolve_access)):
        rec = await run_in_threadpool(resolver.get, manifest_id)
        if rec is None:
            raise HTTPException(404, "C2PA Manifest Id not found")
        # application/c2pa by default, as the Soft Binding Resolution API specifies; the binary answer is
        # always the whole store (it contains the active manifest); JSON on Accept: application/json.
        # Records stored before the binary store was kept answer JSON.
        return _manifest_answer(rec, request, default_binary=True, active_only=return_active)

    return app


def _safe_error(error: dict) -> dict:
    """One validation error without the echoed input or context: always JSON, never large."""
    loc = [part if isinstance(part, (str, int)) else str(part) for part in error.get("loc", ())]
    return {"loc": loc, "msg": str(error.get("msg", "invalid value"))[:500], "type": str(error.get("type", ""))}


def _safety_refusal(exc: BaseException) -> str | None:
    """A generator signals "the model's safety checker refused" with forensics.generate.SafetyRefusal
    (code "safety"), or an exception named like SafetyError/NSFW…; anything else is a failure."""
    name = type(exc).__name__.lower()
    if getattr(exc, "code", None) == "safety" or getattr(exc, "safety", False) or "safety" in name or "nsfw" in name:
        return str(exc) or "the model's safety checker flagged the generated image"
    return None
