"""`forensics watermark embed|detect|bench` — invisible watermarks (C2PA soft binding)."""
from __future__ import annotations

from typing import List, Optional

import typer

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                ".bmp": "BMP"}


def _err(cmd: str, message: str) -> None:
    from ..textsafe import printable

    typer.echo(f"forensics watermark {cmd}: {printable(message)}", err=True)


def _split(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    return out or None


def register(app: typer.Typer) -> None:
    wm_app = typer.Typer(name="watermark", no_args_is_help=True,
                         help="Invisible watermarks: embed an ID that survives metadata stripping, detect it, "
                              "benchmark the schemes.")
    app.add_typer(wm_app, name="watermark")

    @wm_app.command("embed")
    def embed(
        src: str = typer.Argument(..., metavar="IN", help="Image to mark."),
        out: str = typer.Option(..., "-o", "--out", metavar="OUT",
                                help="Output image; the format follows the extension (.png .jpg .webp .tif .bmp)."),
        payload: Optional[str] = typer.Option(None, "--payload", metavar="HEX",
                                              help="Payload as hex (default scheme: 6 bytes = 12 hex digits). "
                                                   "Default: random."),
        scheme: Optional[str] = typer.Option(None, "--scheme", metavar="NAME",
                                             help="Scheme (default fsw-v2; also fsw-v1, dwtDct, dwtDctSvd, rivaGan)."),
        strength: Optional[float] = typer.Option(None, "--strength", min=0.05, max=4.0,
                                                 help="Embedding strength relative to the scheme's default."),
        quality: int = typer.Option(95, "--quality", min=1, max=100, help="JPEG / WebP quality of OUT."),
        json_out: bool = typer.Option(False, "--json", help='Print {"scheme": …, "payload": "hex"} as JSON.'),
    ):
        """Embed an invisible watermark carrying PAYLOAD and write OUT; prints the payload used."""
        import json
        import secrets
        from pathlib import Path

        from ..errors import ForensicsError
        from ..media import Media
        from ..provenance import watermark as wm

        fmt = SAVE_FORMATS.get(Path(out).suffix.lower())
        if fmt is None:
            raise typer.BadParameter(f"unsupported output extension {Path(out).suffix!r}; use "
                                     f"{', '.join(sorted(SAVE_FORMATS))}", param_hint="-o")
        try:
            s = wm.get_scheme(scheme)
            if s.extra:
                from .extras import need

                need(s.extra, f"the {s.name} watermark")
            if not s.embeddable:
                raise wm.WatermarkError(f"scheme {s.name} is detect-only (a third-party mark)")
            data = s.check_payload(payload) if payload is not None else secrets.token_bytes(s.payload_bytes)
            media = Media.open(src)
            if not media.is_image:
                raise wm.WatermarkError(f"{src}: only still images can be marked (got {media.media_type})")
            img = media.image()
            info = dict(img.info)
            if img.mode in ("P", "PA", "1"):  # palette images would lose the mark when re-quantised
                img = img.convert("RGBA" if "transparency" in info or img.mode == "PA" else "RGB")
            marked = wm.embed(img, data, scheme=s.name, strength=strength)
            if fmt == "JPEG" and marked.mode in ("RGBA", "LA"):
                raise wm.WatermarkError("JPEG cannot keep the alpha channel; write .png, .webp or .tif")
            save_kw = {}
            if fmt in ("JPEG", "WEBP"):
                save_kw["quality"] = quality
            if info.get("icc_profile"):
                save_kw["icc_profile"] = info["icc_profile"]
            if info.get("exif") and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
                save_kw["exif"] = info["exif"]
            try:
                marked.save(out, fmt, **save_kw)
            except OSError as exc:
                raise wm.WatermarkError(f"cannot write {out}: {exc}") from None
        except ForensicsError as exc:
            _err("embed", exc.message)
            raise typer.Exit(2)
        if json_out:
            typer.echo(json.dumps({"scheme": s.name, "payload": data.hex(), "path": out}))
        else:
            from ..textsafe import printable

            typer.echo(f"{printable(out)}: {s.name} payload {data.hex()}")

    @wm_app.command("detect")
    def detect(
        paths: List[str] = typer.Argument(..., metavar="PATH...", help="Images or videos."),
        scheme: Optional[List[str]] = typer.Option(None, "--scheme", metavar="NAME",
                                                   help="Scheme(s) to look for (repeatable or comma-separated). "
                                                        "Default: fsw-v2, fsw-v1 + the Stable Diffusion / SDXL marks."),
        payload: Optional[str] = typer.Option(None, "--payload", metavar="HEX",
                                              help="Verify this expected payload (needed to calibrate dwtDct, "
                                                   "dwtDctSvd and rivaGan, which have no error correction)."),
        fpr: float = typer.Option(1e-6, "--fpr", help="False-positive rate at which a mark counts as detected."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON array, one object per input."),
    ):
        """Look for invisible watermarks. Exit 0 when every input was read, 2 when one could not be."""
        import json

        from ..errors import ForensicsError
        from ..media import Media
        from ..provenance import watermark as wm

        schemes = _split(scheme)
        if not 0 < fpr < 1:
            raise typer.BadParameter("must be between 0 and 1", param_hint="--fpr")
        try:
            for name in schemes or []:
                if wm.get_scheme(name).extra:
                    from .extras import need

                    need(wm.get_scheme(name).extra, f"the {name} watermark")
            expected = bytes.fromhex(payload) if payload else None
        except ValueError:
            raise typer.BadParameter(f"{payload!r} is not hex", param_hint="--payload") from None
        except ForensicsError as exc:
            raise typer.BadParameter(exc.message, param_hint="--scheme") from None
        rows, failed = [], False
        for p in paths:
            row = {"path": p, "error": None, "watermarks": []}
            try:
                media = Media.open(p)
                if media.is_video:
                    from ..analysers import AnalysisContext, VerifyOptions
                    from ..provenance.watermark.analyser import WatermarkAnalyser

                    ctx = AnalysisContext(options=VerifyOptions(watermark_schemes=schemes, watermark_full_search=True))
                    dets = WatermarkAnalyser().analyse(media, ctx).detections
                else:
                    dets = wm.detect(media.rgb(), schemes=schemes, fpr=fpr, expected=expected)
                row["watermarks"] = [d.to_json() for d in dets]
            except ForensicsError as exc:
                row["error"] = {"code": exc.code, "message": exc.message}
                failed = True
            except Exception as exc:  # never a traceback: this file fails, the others go on
                row["error"] = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
                failed = True
            rows.append(row)
            if not json_out:
                _print_row(row)
        if json_out:
            typer.echo(json.dumps(rows, indent=2))
        raise typer.Exit(2 if failed else 0)

    @wm_app.command("bench")
    def bench(
        images: str = typer.Option(..., "--images", metavar="DIR", help="Folder of (unmarked) test images."),
        out: str = typer.Option(..., "--out", metavar="DIR", help="Where to write JSON, markdown and the plot."),
        schemes: Optional[str] = typer.Option("fsw-v2,fsw-v1,dwtDct,dwtDctSvd", "--schemes", metavar="A,B",
                                              help="Schemes to compare (rivaGan takes seconds per image)."),
        attacks: Optional[str] = typer.Option(None, "--attacks", metavar="A,B",
                                              help="Attacks or sets: basic (issue 3), pipeline (issue 16); "
                                                   "default: all of them; see docs/watermark.md."),
        regen: Optional[str] = typer.Option(None, "--regen-models", metavar="DIR",
                                            help="Also attack by regeneration through each TAESD autoencoder "
                                                 "found in DIR (needs the [train] extra; seconds per image)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use N images spread over the folder."),
        fp_images: Optional[str] = typer.Option(None, "--fp-images", metavar="DIR",
                                                help="Unmarked images for the false-positive rate (default: --images)."),
        fp_limit: Optional[int] = typer.Option(None, "--fp-limit", min=1, help="At most N false-positive images."),
        max_side: Optional[int] = typer.Option(None, "--max-side", min=64, help="Downscale images to this long side."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
    ):
        """Quality (PSNR, SSIM), speed and robustness (TPR at FPR 1e-6 per attack) of each scheme."""
        from pathlib import Path

        from .extras import need

        need("train", "forensics watermark bench (its plot)", "matplotlib")

        from ..errors import ForensicsError
        from ..provenance import watermark as wm
        from ..provenance.watermark import bench as b

        try:
            names = _split([schemes or ""]) or [wm.DEFAULT_SCHEME]
            for n in names:
                if wm.get_scheme(n).extra:
                    from .extras import need

                    need(wm.get_scheme(n).extra, f"the {n} watermark")
            from ..provenance.watermark.attacks import get_attacks

            att = list(get_attacks(attacks))
            imgs = b.list_images(images, limit)
            if not imgs:
                raise wm.WatermarkError(f"no images found in {images}")
            fps = b.list_images(fp_images, fp_limit) if fp_images else (imgs[:fp_limit] if fp_limit else None)
            extra = None
            if regen:
                from ..provenance.watermark.regen import regeneration_attacks

                extra = regeneration_attacks(regen)
        except ForensicsError as exc:
            _err("bench", exc.message)
            raise typer.Exit(2)
        progress = None if quiet else (lambda m: typer.echo(m, err=True))
        result = b.run_bench(imgs, names, att, fp_images=fps, max_side=max_side, progress=progress,
                             extra_attacks=extra)
        paths = b.write_outputs(result, Path(out))
        b.print_table(result)
        typer.echo(" ".join(f"{k}: {v}" for k, v in paths.items()))


def _print_row(row: dict) -> None:
    from ..textsafe import printable as p

    path = p(row["path"])
    if row["error"]:
        typer.echo(f"{path}: error ({p(row['error']['code'])}): {p(row['error']['message'])}")
        return
    found = [w for w in row["watermarks"] if w["detected"]]
    if not found:
        typer.echo(f"{path}: no watermark detected ({p(', '.join(w['scheme'] for w in row['watermarks']))})")
    for w in found:
        extra = f" — {p(w['source'])}" if w.get("source") else ""
        typer.echo(f"{path}: {p(w['scheme'])} payload {p(w['payload'])} "
                   f"({w['bits_matched']}/{w['bits_total']} bits, false-positive probability "
                   f"{w['false_positive_probability']:.1e}){extra}")
