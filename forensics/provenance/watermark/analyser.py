"""The verify pipeline's watermark signal: runs :func:`forensics.provenance.watermark.detect` on a file."""
from __future__ import annotations

from ...analysers import AnalysisContext, VerifyOptions
from ...media import Media
from ...report import WatermarkDetection, WatermarkFinding

# Long side the image is decoded at for the default scheme (it works at 512 px); the dwtDct marks need
# native resolution, which the generators' outputs (512-1024 px) have anyway.
_MAX_SIDE_FSW = 1024


class WatermarkAnalyser:
    name = "watermark"

    def applies_to(self, media: Media, options: VerifyOptions) -> bool:
        return media.is_image or media.is_video

    def analyse(self, media: Media, ctx: AnalysisContext) -> WatermarkFinding:
        from . import default_detect_schemes, detect

        schemes = ctx.options.watermark_schemes or default_detect_schemes()
        if media.is_video:
            best: dict[str, WatermarkDetection] = {}
            for _t, frame in media.sample_frames(min(4, ctx.options.max_frames)):
                for d in detect(frame, schemes):
                    cur = best.get(d.scheme)
                    if cur is None or _rank(d) > _rank(cur):
                        best[d.scheme] = d
            return WatermarkFinding(detections=[best[s] for s in schemes if s in best])
        rgb = media.rgb()
        return WatermarkFinding(detections=detect(rgb, schemes))


def _rank(d: WatermarkDetection) -> tuple:
    p = d.false_positive_probability
    return (d.detected, -(p if p is not None else 1.0))
