"""``DetectorAnalyser`` ("detector"): the trained detector inside ``forensics verify``.

Images are scored at native resolution (patch tiling); videos are sampled with OpenCV and each frame
scored, giving one aggregate plus a per-frame timeline. Imports only numpy/onnxruntime/OpenCV/PIL — never
torch — and loads the ONNX session once per analyser instance.
"""
from __future__ import annotations

from ..errors import ConfigError, ForensicsError
from ..report import DetectorFinding, FramesFinding
from .inference import Detector, DetectorModelError, aggregate


class DetectorAnalyser:
    name = "detector"
    needs_native_pixels = True  # images are scored at native resolution: smaller copies derive from it

    def __init__(self, model: str | None = None):
        self._model = model
        self._detector: Detector | None = None

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            try:
                self._detector = Detector.from_pretrained(self._model)
            except DetectorModelError as exc:
                raise ConfigError(str(exc), code="detector_model") from None
        return self._detector

    def applies_to(self, media, options) -> bool:
        return bool(options.detector) and (media.is_image or media.is_video)

    def analyse(self, media, ctx):
        det = self.detector
        if media.is_image:
            s = det.score(media.rgb())
            return DetectorFinding(det.name, round(s.probability_synthetic, 4), round(det.threshold, 4), s.label,
                                   patches=s.patches, model_sha256=det.sha256)
        return self.analyse_video(media, ctx.options.max_frames)

    def analyse_video(self, media, max_frames: int = 16):
        det = self.detector
        timeline, logits, patches = [], [], 0
        for t, frame in media.sample_frames(max_frames):
            s = det.score(frame)
            logits.append(s.logit)
            patches += s.patches
            timeline.append({"t": round(float(t), 3), "probability_synthetic": round(s.probability_synthetic, 4),
                             "label": det.label_for(s.probability_synthetic, video=True)})
        if not timeline:
            # e.g. a DASH init segment: credentials may still be readable, so this costs only the detector
            raise ForensicsError(f"{media.path}: no video frame could be decoded", code="no_frames")
        # each sampled frame stands for the segment up to the next one
        for a, b in zip(timeline, timeline[1:]):
            a["t_end"] = b["t"]
        import numpy as np

        p = det.calibrate(aggregate(np.array(logits), det.topk_frac))
        return [DetectorFinding(det.name, round(p, 4), round(det.video_threshold, 4), det.label_for(p, video=True),
                                patches=patches,
                                model_sha256=det.sha256),
                FramesFinding(sampled=len(timeline), timeline=timeline)]
