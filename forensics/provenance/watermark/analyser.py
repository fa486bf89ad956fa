"""The verify pipeline's watermark signal: runs :func:`forensics.provenance.watermark.detect` on a file."""
from __future__ import annotations

from ...analysers import AnalysisContext, VerifyOptions
from ...media import Media
from ...report import WatermarkDetection, WatermarkFinding

# Each scheme says how large a copy it needs (WatermarkScheme.detect_max_side / native_max_pixels): the
# default scheme reads a 1024-px copy (a fast reduced JPEG decode), the dwtDct marks native pixels.

class WatermarkAnalyser:
    name = "watermark"

    def applies_to(self, media: Media, options: VerifyOptions) -> bool:
        return media.is_image or media.is_video

    def analyse(self, media: Media, ctx: AnalysisContext) -> WatermarkFinding:
        from . import default_detect_schemes, detect, get_scheme

        schemes = ctx.options.watermark_schemes or default_detect_schemes()

        # fsw-v2's exhaustive sweep (rotation, aspect, perspective) costs ~1 s on every unmarked image:
        # verify and the audit run its cheap search (crops, scales) unless asked; `watermark detect` runs it.
        kw = {"search_geometry": ctx.options.watermark_geometry_search,
              "exhaustive": ctx.options.watermark_full_search}
        if media.is_video:
            best: dict[str, WatermarkDetection] = {}
            for _t, frame in media.sample_frames(min(4, ctx.options.max_frames)):
                for d in detect(frame, schemes, **kw):
                    cur = best.get(d.scheme)
                    if cur is None or _rank(d) > _rank(cur):
                        best[d.scheme] = d
            return WatermarkFinding(detections=[best[s] for s in schemes if s in best])
        w, h = media.dimensions
        out: list[WatermarkDetection] = []
        own_found = False  # fsw-v1 and fsw-v2 carry the same ID: once one is read, the other is not searched
        for name in schemes:
            scheme = get_scheme(name)
            if scheme.native_max_pixels and w * h > scheme.native_max_pixels:
                continue  # not searched: this mark cannot be present in a file this large
            if own_found and scheme.geometry_search:
                continue
            rgb = media.rgb(max_side=scheme.detect_max_side) if scheme.detect_max_side else media.rgb()
            found = detect(rgb, [name], **kw)
            own_found = own_found or any(d.detected and scheme.geometry_search for d in found)
            out.extend(found)
        return WatermarkFinding(detections=out)


def _rank(d: WatermarkDetection) -> tuple:
    p = d.false_positive_probability
    return (d.detected, -(p if p is not None else 1.0))
