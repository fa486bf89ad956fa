"""`forensics generate` — text-to-image (or image-to-image / inpainting) whose every output is watermarked,
C2PA-signed and stored in the manifest repository."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

_TINY_NOTE = ("note: builtin:tiny is a random-weight model for offline demos and tests: its output is abstract "
              "noise, not a picture of the prompt (provenance, watermark and signing are real)")


def _parse_size(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        w, h = value.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use WIDTHxHEIGHT, e.g. 512x512", param_hint="--size") from None


def _outputs(out: Path, n: int, ext: str, seeds: list[int]) -> list[Path]:
    """Where each image goes: OUT itself for one image; OUT-1.ext, OUT-2.ext… or files in a folder for more."""
    if out.is_dir() or str(out).endswith(("/", "\\")):
        return [out / f"generated-{s}{ext}" for s in seeds]
    if n == 1:
        return [out]
    suffix = out.suffix or ext
    return [out.with_name(f"{out.stem}-{i + 1}{suffix}") for i in range(n)]


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        prompt: str = typer.Argument(..., help="What to draw."),
        out: Path = typer.Option(..., "-o", "--out", help="Output file (a folder, or OUT-1.png… when --n > 1)."),
        model: str = typer.Option("stabilityai/sd-turbo", "--model",
                                  help="Hub id, local diffusers folder, or builtin:tiny (offline, random weights)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the first image (image i uses seed+i)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Denoising steps (default: 1 for turbo models)."),
        guidance: Optional[float] = typer.Option(None, "--guidance", help="Classifier-free guidance scale."),
        size: Optional[str] = typer.Option(None, "--size", help="WIDTHxHEIGHT (default: the model's own size)."),
        negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="What to avoid."),
        n: int = typer.Option(1, "--n", min=1, max=16, help="Number of images."),
        fmt: Optional[str] = typer.Option(None, "--format", help="png, jpeg or webp (default: from OUT's extension, "
                                          "else png)."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
        init_image: Optional[Path] = typer.Option(None, "--init-image", help="Source image for image-to-image; "
                                                  "it becomes the parent ingredient."),
        mask: Optional[Path] = typer.Option(None, "--mask", help="Inpainting mask (white = repaint); needs "
                                            "--init-image."),
        strength: Optional[float] = typer.Option(None, "--strength", help="How far from the init image, (0, 1]."),
        lora: Optional[Path] = typer.Option(None, "--lora", help="LoRA weights (file or folder), named with their "
                                            "SHA-256 in the manifest."),
        cert: Optional[Path] = typer.Option(None, "--cert", help="Signing certificate chain (PEM); default: the "
                                            "`forensics keys init` identity."),
        key: Optional[Path] = typer.Option(None, "--key", help="Private key (PEM) for --cert."),
        registry: Optional[str] = typer.Option(None, "--registry", help="Manifest repository (SQLAlchemy URL or "
                                               "SQLite path); default $FORENSICS_REGISTRY."),
        private_prompt: bool = typer.Option(False, "--private-prompt", help="Record only the prompt's SHA-256."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON array describing the written files."),
    ):
        """Generate images that leave already watermarked, C2PA-signed and stored in the manifest repository."""
        from .extras import need

        need("generate", "forensics generate")
        from ..errors import ForensicsError
        from ..generate.types import FORMATS

        def fail(msg: str) -> None:
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2)

        if (cert is None) != (key is None):
            fail("--cert and --key go together")
        if mask is not None and init_image is None:
            fail("--mask needs --init-image")
        if fmt is None:
            fmt = {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".png": "png"}.get(out.suffix.lower(), "png")
        fmt = fmt.lower()
        if fmt not in FORMATS:
            fail(f"unknown --format {fmt!r}; use png, jpeg or webp")
        try:
            wh = _parse_size(size)
        except typer.BadParameter as exc:
            fail(str(exc))
        init_bytes = mask_bytes = None
        for label, path in (("--init-image", init_image), ("--mask", mask), ("--lora", lora)):
            if path is not None and not path.exists():
                fail(f"{label} {path}: no such file")
        try:
            init_bytes = init_image.read_bytes() if init_image else None
            mask_bytes = mask.read_bytes() if mask else None
        except OSError as exc:
            fail(f"cannot read {exc.filename}: {exc.strerror}")

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        try:
            from ..generate import GenerationRequest, load_generator
            from ..provenance.signing import SigningIdentity

            identity = SigningIdentity.from_files(cert, key) if cert else SigningIdentity.default()
            if model == "builtin:tiny":
                typer.echo(_TINY_NOTE, err=True)
            elif not as_json:
                typer.echo(f"loading {model} …", err=True)
            gen = load_generator(model, device=device, identity=identity, registry_url=registry,
                                 lora=str(lora) if lora else None)
            req = GenerationRequest(prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                                    guidance=guidance, size=wh, n=n, format=fmt, private_prompt=private_prompt,
                                    init_image=init_bytes, mask=mask_bytes, strength=strength)
            with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(), transient=True,
                          console=_stderr_console()) as bar:
                task = bar.add_task(f"sampling {n} image{'s' if n > 1 else ''}", total=None)


                def on_progress(done: int, total: int) -> None:
                    image = min(n, 1 + max(done - 1, 0) * n // max(total, 1))
                    bar.update(task, completed=done, total=total, description=f"image {image}/{n}, steps")

                images = gen.generate(req, progress=on_progress)
        except ForensicsError as exc:
            fail(exc.message)
        except KeyboardInterrupt:
            fail("interrupted; nothing further was written")
        ext = images[0].extension
        paths = _outputs(out, len(images), ext, [im.seed for im in images])
        rows = []
        try:
            for im, path in zip(images, paths):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(im.data)
                rows.append({"path": str(path), "media_type": im.media_type, "manifest_id": im.manifest_id,
                             "watermark": {"scheme": _scheme(), "payload": im.watermark}, "seed": im.seed,
                             "width": im.width, "height": im.height, "model": gen.model_id})
        except OSError as exc:
            fail(f"cannot write {exc.filename}: {exc.strerror}")
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            for r in rows:
                typer.echo(f"{r['path']}  {r['width']}x{r['height']} seed {r['seed']}  manifest {r['manifest_id']}  "
                           f"watermark {r['watermark']['payload']}")
        if model == "builtin:tiny" and not as_json:
            typer.echo("(abstract noise from the random-weight demo model)", err=True)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _scheme() -> str:
    from ..provenance.watermark import DEFAULT_SCHEME

    return DEFAULT_SCHEME
