"""`forensics detect train|eval|score` — the synthetic-image detector."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def register(app: typer.Typer) -> None:
    detect = typer.Typer(name="detect", no_args_is_help=True,
                         help="The synthetic-image detector: train it, evaluate it, score files.")
    app.add_typer(detect, name="detect")

    @detect.command("train")
    def train_cmd(
        data: Optional[List[Path]] = typer.Option(None, "--data", help="Dataset folder (labels.csv, 0_real/1_fake or "
                                                  "ai/nature layout). Repeatable. Its real photos are the training "
                                                  "reals. Required unless --resume."),
        out: Path = typer.Option(..., "--out", help="Output folder for model.onnx + model.json."),
        taesd_dir: Optional[Path] = typer.Option(None, "--taesd-dir", envvar="FORENSICS_TAESD_DIR",
                                                 help="Folder with taef2_encoder.pth/taef2_decoder.pth."),
        builders: str = typer.Option("taef2,nearest,bilinear,bicubic,deconv,pixelshuffle", "--builders",
                                     help="Fake builders, comma-separated: taef2 (or another TAESD name in --taesd-dir), "
                                     "vae:<folder> (a local diffusers AutoencoderKL, e.g. sd-vae-ft-mse), nearest, "
                                     "bilinear, bicubic, deconv, pixelshuffle, generate."),
        fake_weights: str = typer.Option("", "--fake-weights", help="Sampling weights per fake source, e.g. "
                                         "'taef2-recon=3' (others 1)."),
        front_end: str = typer.Option("highpass", "--front-end", help="rgb | highpass | npr"),
        backbone: str = typer.Option("resnet_tiny", "--backbone", help="Any timm model name."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Default: 3000 (about 17 min on 2 idle CPU cores)."),
        batch: Optional[int] = typer.Option(None, "--batch", help="Default: 48 on CPU, 256 on GPU."),
        max_minutes: float = typer.Option(25.0, "--max-minutes", help="Wall-clock cap on this session's training "
                                         "loop; the model is exported and the run stays resumable."),
        patch: int = typer.Option(128, "--patch", help="Tile side, px (training patches and inference tiles)."),
        max_patches: int = typer.Option(32, "--max-patches", min=1, help="Tiles scored per image at inference."),
        region: int = typer.Option(256, "--region", help="Cached region size per photo."),
        max_photos: Optional[int] = typer.Option(None, "--max-photos", help="Cap photos per split (quick runs)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
        threads: int = typer.Option(2, "--threads"),
        seed: int = typer.Option(0, "--seed"),
        cache_dir: Path = typer.Option(Path("runs/detector/cache"), "--cache-dir"),
        real_downscale_p: float = typer.Option(0.6, "--real-downscale-p", min=0.0, max=1.0,
                                               help="Share of real regions cut from a 0.5-0.9x resampled copy "
                                               "(breaks the camera JPEG grid)."),
        fake_prejpeg_p: float = typer.Option(0.85, "--fake-prejpeg-p", min=0.0, max=1.0,
                                             help="Share of fakes JPEG-compressed once before caching, so "
                                             "'compressed before' does not mean 'real'."),
        prejpeg_quality: str = typer.Option("70-98", "--prejpeg-quality", help="JPEG quality range LO-HI "
                                            "of that first compression."),
        augment: str = typer.Option("", "--augment", help="Training perturbations (both classes), e.g. "
                                    "'jpeg_quality=30-100,blur_p=0.2,resize_p=0.3'. Keys: jpeg_p, jpeg_quality, "
                                    "blur_p, blur_sigma, resize_p, resize_scale."),
        fakes_data: Optional[List[Path]] = typer.Option(None, "--fakes-data", help="Folder of genuine generator "
                                                        "outputs (labels.csv, label=fake), e.g. ai-train: the "
                                                        "genuine-output recipe. Repeatable."),
        ae_dir: Optional[List[Path]] = typer.Option(None, "--ae-dir", help="Folder with tiny-autoencoder weights "
                                                    "(NAME_encoder/_decoder .safetensors or .pth) for the aligned "
                                                    "reconstructions of the genuine-output recipe. Repeatable."),
        autoencoders: str = typer.Option("taesd,taesdxl,taesd3,taef1,taef2", "--autoencoders",
                                         help="Reconstruction autoencoders (genuine-output recipe); '' for none."),
        mix: str = typer.Option("genuine=0.5,recon=0.35,sim=0.15", "--mix", help="Share of each fake kind "
                                "(genuine-output recipe): genuine, recon, sim."),
        holdout_fold: Optional[str] = typer.Option(None, "--holdout-fold", help="Train without this selection "
                                                   "fold (older, sdnext, community)."),
        version: str = typer.Option("1", "--version", help="Model version written to the card."),
        name: Optional[str] = typer.Option(None, "--name", help="Model name (default forensics-FRONTEND-BACKBONE)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out from its last "
                                    "checkpoint, with the configuration saved there (other options ignored)."),
        stop_after_step: Optional[int] = typer.Option(None, "--stop-after-step", min=1, help="Stop after this "
                                                      "step, checkpointed (continue later with --resume)."),
    ):
        """Train the detector, calibrate it on held-out photos, export ONNX + model card."""
        import logging

        from .extras import need

        need("train", "forensics detect train")

        from ..errors import ForensicsError

        logging.basicConfig(level=logging.WARNING)
        try:
            import torch

            from ..detect.train import TrainConfig, train

            weights = {}
            for item in filter(None, (x.strip() for x in fake_weights.split(","))):
                key, _, val = item.partition("=")
                try:
                    weights[key.strip()] = float(val)
                except ValueError:
                    raise ValueError(f"--fake-weights: expected SOURCE=NUMBER, got {item!r}") from None
            from ..datasets.augment import AugmentConfig, parse_augment, parse_range

            try:
                pq = parse_range(prejpeg_quality, int)
            except ValueError:
                raise ValueError(f"--prejpeg-quality: expected LO-HI, e.g. 70-98, got {prejpeg_quality!r}") from None
            if not 1 <= pq[0] <= pq[1] <= 100:
                raise ValueError(f"--prejpeg-quality: need 1 <= LO <= HI <= 100, got {prejpeg_quality!r}")

            aug = parse_augment(augment, AugmentConfig())
            gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
            if resume:
                from ..detect.train import load_config

                cfg = load_config(out)
                cfg.max_minutes = max_minutes
                cfg.stop_after_step = stop_after_step
                train(cfg, progress=lambda m: typer.echo(m, err=True), resume=True)
                typer.echo(str(out))
                return
            if not data:
                raise ValueError("--data is required (unless --resume)")
            mix_w = {}
            for item in filter(None, (x.strip() for x in mix.split(","))):
                key, _, val = item.partition("=")
                if key.strip() not in ("genuine", "recon", "sim"):
                    raise ValueError(f"--mix: unknown kind {key!r} (genuine, recon, sim)")
                try:
                    mix_w[key.strip()] = float(val)
                except ValueError:
                    raise ValueError(f"--mix: expected KIND=NUMBER, got {item!r}") from None
            cfg = TrainConfig(data=[str(d) for d in data], out=str(out), taesd_dir=str(taesd_dir) if taesd_dir else None,
                              fakes_data=[str(d) for d in fakes_data or []], ae_dirs=[str(d) for d in ae_dir or []],
                              autoencoders=[a.strip() for a in autoencoders.split(",") if a.strip()],
                              mix=mix_w, holdout_fold=holdout_fold, version=version, name=name,
                              stop_after_step=stop_after_step,
                              builders=[b.strip() for b in builders.split(",") if b.strip()], fake_weights=weights,
                              front_end=front_end,
                              backbone=backbone, steps=steps or 3000, batch=batch or (256 if gpu else 48),
                              max_minutes=max_minutes, patch=patch, max_patches=max_patches, region=region,
                              max_photos=max_photos,
                              device=device, threads=threads, seed=seed, cache_dir=str(cache_dir),
                              real_downscale_p=real_downscale_p, fake_prejpeg_p=fake_prejpeg_p, prejpeg_quality=pq,
                              augment=aug)
            train(cfg, progress=lambda m: typer.echo(m, err=True))
        except (ValueError, FileNotFoundError, ForensicsError, RuntimeError) as exc:
            _err(str(exc))
            raise typer.Exit(2)
        typer.echo(str(out))

    @detect.command("calibrate")
    def calibrate_cmd(
        data: List[Path] = typer.Option(..., "--data", help="Folder(s) of real photos (labels.csv or plain "
                                        "layouts); fakes in them are ignored."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder to recalibrate (default: "
                                             "the shipped model)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the recalibrated copy (default: "
                                           "$FORENSICS_HOME/detectors/NAME@VERSION)."),
        in_place: bool = typer.Option(False, "--in-place", help="Rewrite --model's own model.json instead "
                                      "of writing a copy (never the shipped model)."),
        target_fpr: float = typer.Option(0.01, "--target-fpr", min=0.0001, max=0.5,
                                         help="False-positive rate the threshold is set for."),
        all_reals: bool = typer.Option(False, "--all-reals", help="Use every real photo, also those the "
                                       "model was trained or tested on (default: its calibration split "
                                       "when the photos come from its training data)."),
    ):
        """Set the detector's threshold for a false-positive rate on *your* real photos.

        A newsroom's own archive is the best reference for what its real images look like: the threshold
        becomes the (1 - FPR) quantile of their scores (whole photos, scored as verify does, each also
        re-encoded at JPEG 95/90/75/50, halved and softened). The probability scale (Platt) is kept."""
        import shutil

        from ..datasets import load_dataset
        from ..detect.evaluate import model_split
        from ..detect.inference import DEFAULT_MODEL_DIR, Detector, DetectorModelError
        from ..detect.train import threshold_from_reals, video_operating_point

        src = Path(model) if model else DEFAULT_MODEL_DIR
        if in_place and (model is None or src.resolve() == DEFAULT_MODEL_DIR.resolve()):
            _err("--in-place needs --model DIR of your own model (the shipped model is never changed in place)")
            raise typer.Exit(2)
        if in_place and out is not None:
            _err("give either --out or --in-place, not both")
            raise typer.Exit(2)
        try:
            det = Detector(src)
            reals = [s for d in data for s in load_dataset(str(d)) if s.label == 0]
            if not all_reals:
                reals = [s for s in reals if model_split(det.card, s) in (None, "calib")]
            if not reals:
                raise ValueError("no real photos to calibrate on (with the model's own training data, only its "
                                 "calibration split is used; --all-reals uses every real photo)")
            sources = [s.group.split("/")[1] if s.group.count("/") > 1 else s.source for s in reals]
            op = threshold_from_reals(det, [str(s.path) for s in reals], target_fpr,
                                      progress=lambda m: typer.echo(m, err=True), sources=sources)
            op["video"] = video_operating_point(det, [str(s.path) for s in reals], target_fpr)
        except (ValueError, DetectorModelError, FileNotFoundError, RuntimeError) as exc:
            _err(str(exc))
            raise typer.Exit(2)
        card = recalibrated_card(det, op, target_fpr, [str(d) for d in data])
        if in_place:
            dest = src
        elif out:
            dest = Path(out)
        else:
            from ..config import home

            dest = home() / "detectors" / f"{card['name']}@{card['version']}"
        if dest.resolve() != src.resolve():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / "model.onnx", dest / "model.onnx")
        (dest / "model.json").write_text(json.dumps(card, indent=2))
        typer.echo(f"threshold {op['threshold']:.4f} (uncertain from {op['uncertain_below']:.4f}) for "
                   f"{target_fpr:.2%} FPR on {op['n_photos']} photos ({op['n_scores']} scores); wrote "
                   f"{card['name']}@{card['version']} to {dest} (use it: export FORENSICS_DETECTOR_MODEL={dest})")

    @detect.command("eval")
    def eval_cmd(
        data: List[Path] = typer.Option(..., "--data", help="Dataset folder(s) with real and/or fake images."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
        robustness: bool = typer.Option(False, "--robustness", help="Also JPEG 75/50, resize 0.5, blur σ=1."),
        out: Path = typer.Option(Path("runs/detector/eval"), "--out", help="Folder for eval.json/eval.md/roc.png."),
        all_reals: bool = typer.Option(False, "--all-reals", help="Keep reals the model was trained on "
                                       "(default: only photos held out of training)."),
        crop: int = typer.Option(512, "--crop", help="Centre crop before the JPEG q90 protocol."),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON result instead of the table."),
    ):
        """AUC, AP, accuracy, TPR at 1%/0.1% FPR, per source (and under perturbations)."""
        from .extras import need

        need("train", "forensics detect eval", "sklearn", "matplotlib")
        from ..detect.evaluate import evaluate, to_markdown, write_outputs
        from ..detect.inference import Detector, DetectorModelError

        try:
            det = Detector.from_pretrained(model)
            result = evaluate(det, [str(d) for d in data], robustness=robustness, heldout_only=not all_reals,
                              crop=crop, progress=lambda m: typer.echo(m, err=True))
        except (ValueError, DetectorModelError, FileNotFoundError) as exc:
            _err(str(exc))
            raise typer.Exit(2)
        if result["n_real"] == 0 or result["n_fake"] == 0:
            _err(f"need both classes to evaluate (real {result['n_real']}, synthetic {result['n_fake']})")
            raise typer.Exit(2)
        paths = write_outputs(result, out)
        if as_json:
            typer.echo(json.dumps({k: v for k, v in result.items() if k != "_scores"}, indent=2))
        else:
            typer.echo(to_markdown(result))
            typer.echo("wrote " + ", ".join(str(p) for p in paths.values()), err=True)
        raise typer.Exit(2 if result["errors"] else 0)

    @detect.command("score")
    def score_cmd(
        files: List[Path] = typer.Argument(..., help="Images or videos."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
        as_json: bool = typer.Option(False, "--json", help="JSON array output."),
        max_frames: int = typer.Option(16, "--max-frames", help="Frames sampled per video."),
    ):
        """Probability that each file is synthetic, from the detector alone."""
        from ..detect.analyser import DetectorAnalyser
        from ..errors import ForensicsError, MediaError
        from ..media import Media

        analyser = DetectorAnalyser(str(model) if model else None)
        try:
            analyser.detector
        except ForensicsError as exc:
            _err(exc.message)
            raise typer.Exit(2)
        rows, failed = [], False
        for f in files:
            row = {"path": str(f), "error": None, "detector": None, "frames": None}
            try:
                media = Media.open(f)
                if media.is_image:
                    findings = [analyser.analyse(media, _Ctx(max_frames))]
                elif media.is_video:
                    findings = analyser.analyse_video(media, max_frames)
                else:
                    raise MediaError(f"{f}: not an image or video", code="unsupported")
                for fi in findings:
                    row[fi.key] = fi.to_json()
            except ForensicsError as exc:
                row["error"] = {"code": exc.code, "message": exc.message}
                failed = True
            except Exception as exc:  # never a traceback: this file gets an error entry, the others go on
                row["error"] = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
                failed = True
            rows.append(row)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            from ..textsafe import printable

            for r in rows:
                if r["error"]:
                    typer.echo(f"{printable(r['path'])}: error ({printable(r['error']['code'])}): "
                               f"{printable(r['error']['message'])}")
                else:
                    d = r["detector"]
                    extra = f", {r['frames']['sampled']} frames" if r["frames"] else ""
                    typer.echo(f"{printable(r['path'])}: {printable(d['label'])} (p={d['probability_synthetic']:.3f}, "
                               f"threshold {d['threshold']:.3f}{extra})")
        raise typer.Exit(2 if failed else 0)


def recalibrated_card(det, op: dict, target_fpr: float, data: list[str]) -> dict:
    """The card of a recalibrated model: the new operating point, a version of its own
    (``<version>+cal.<hash of the operating point>``) and the identity of the model it came from, so a
    recalibrated model never passes for the one it was made from (verify, the audit's reuse key)."""
    import hashlib

    card = dict(det.card)
    calib = {k: v for k, v in op.items() if k not in ("threshold", "uncertain_below", "video")} | {"data": data}
    point = {"threshold": op["threshold"], "uncertain_below": op["uncertain_below"], "target_fpr": target_fpr,
             **op.get("video", {})}
    tag = hashlib.sha256(json.dumps(point | {"calibration": calib}, sort_keys=True, default=str).encode()).hexdigest()[:8]
    base = str(card.get("version", "0")).split("+cal.", 1)[0]
    card.update(point | {"version": f"{base}+cal.{tag}", "threshold_calibration": calib,
                         "recalibrated_from": {"model": det.name, "model_sha256": det.sha256}})
    return card


class _Ctx:
    """Minimal analysis context for `detect score` (the analyser only reads options.max_frames)."""

    def __init__(self, max_frames: int):
        from ..analysers import VerifyOptions

        self.options = VerifyOptions(max_frames=max_frames)
        self.findings, self.cache = {}, {}
