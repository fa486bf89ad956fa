"""Unsigned metadata hints: EXIF camera/software, XMP/IPTC DigitalSourceType, generator text chunks.

None of this is signed, so it is evidence of intent at best (anyone can write or strip it); the verdict
treats it as such. Everything is read from headers without decoding pixels. XMP is searched with a
regular expression, never handed to an XML parser (no entity expansion, no external references).

The analyser also makes one cheap integrity check, so that a truncated file is reported as corrupt even
when no pixel-decoding analyser runs (``--no-detector``): a JPEG's entropy-coded data must reach an EOI
marker, and a PNG's chunks must be complete with valid CRCs.
"""
from __future__ import annotations

import json
import re

from ..errors import Corrupt
from ..report import MetadataFinding

MAX_TEXT = 4096  # generator text kept in the report (prompts can be long; workflows are huge)
MAX_FIELD = 512

# EXIF tags reported (name -> tag id). 0x8769 is the Exif sub-IFD.
EXIF_TAGS = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "DateTime": 0x0132, "Artist": 0x013B,
             "Copyright": 0x8298, "ImageDescription": 0x010E}
EXIF_SUB_TAGS = {"DateTimeOriginal": 0x9003, "LensModel": 0xA434, "UserComment": 0x9286}

# text chunk key -> which generator writes it
GENERATOR_CHUNKS = {
    "parameters": "AUTOMATIC1111 / Stable Diffusion web UI (parameters)",
    "prompt": "ComfyUI (prompt)",
    "workflow": "ComfyUI (workflow)",
    "invokeai_metadata": "InvokeAI",
    "sd-metadata": "InvokeAI (legacy)",
    "Dream": "InvokeAI (legacy Dream)",
    "fooocus_scheme": "Fooocus",
    "generation_data": "Civitai / generation data",
}
# EXIF Software values that only generators write (case-insensitive substrings)
GENERATOR_SOFTWARE = ("novelai", "midjourney", "stable diffusion", "stable-diffusion", "stability.ai", "dall-e", "dall·e", "firefly", "comfyui",
                      "automatic1111", "invokeai", "imagen", "ideogram", "leonardo.ai")

_DST_RE = re.compile(
    rb"DigitalSourceType\s*(?:=\s*[\"']([^\"']{1,300})[\"']|>\s*(?:<rdf:[^>]*>\s*)?([^<\s]{1,300})\s*<"
    rb"|[^>]*?rdf:resource\s*=\s*[\"']([^\"']{1,300})[\"'])",
    re.I,
)
_A1111_RE = re.compile(r"Steps:\s*\d+.*Sampler:", re.S)


def _clean(value, limit: int = MAX_FIELD) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        # EXIF UserComment starts with an 8-byte charset header
        for head, enc in ((b"ASCII\x00\x00\x00", "ascii"), (b"UNICODE\x00", "utf-16-be"), (b"\x00" * 8, "utf-8")):
            if value.startswith(head):
                value = value[8:].decode(enc, "replace")
                break
        else:
            value = value.decode("utf-8", "replace")
        if "\x00" in value and value.count("\x00") > len(value) // 3:  # little-endian UTF-16 mis-decoded
            value = value.replace("\x00", "")
    text = str(value).replace("\x00", "").strip()
    if not text:
        return None
    return text if len(text) <= limit else text[:limit] + "…"


def xmp_digital_source_type(xmp: bytes | str | None) -> str | None:
    """IPTC DigitalSourceType from an XMP packet (attribute, element or rdf:resource form)."""
    if not xmp:
        return None
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    m = _DST_RE.search(xmp)
    if not m:
        return None
    value = next(g for g in m.groups() if g)
    return value.decode("utf-8", "replace").strip() or None


def jpeg_is_complete(data: bytes) -> bool:
    """True when the JPEG's marker structure and entropy-coded data run through to an EOI marker."""
    n = len(data)
    i = 2
    marker_re = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
    while i + 2 <= n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            return False
        seg_len = int.from_bytes(data[i + 2:i + 4], "big")
        if seg_len < 2 or i + 2 + seg_len > n:
            return False
        i += 2 + seg_len
        if marker == 0xDA:  # start of scan: skip entropy-coded data up to the next real marker
            m = marker_re.search(data, i)
            if m is None:
                return False
            i = m.start()
    return False


def _png_text(img) -> dict[str, str]:
    out = {}
    # img.info, not img.text: PngImageFile.text decodes the whole image to find late chunks
    for k, v in (img.info or {}).items():
        if isinstance(v, (str, bytes)) and k not in ("icc_profile", "exif", "xmp", "XML:com.adobe.xmp"):
            out[str(k)] = v if isinstance(v, str) else v.decode("utf-8", "replace")
    return out


def read_metadata(media) -> MetadataFinding:
    """Metadata hints of an image :class:`~forensics.media.Media` (header only)."""
    finding = MetadataFinding()
    finding.width, finding.height = media.dimensions
    img = media._open_pil()  # pixel-limit guarded; metadata only, no decode
    try:
        exif: dict[str, str] = {}
        try:
            ex = img.getexif()
            for name, tag in EXIF_TAGS.items():
                v = _clean(ex.get(tag))
                if v:
                    exif[name] = v
            sub = ex.get_ifd(0x8769) if ex else {}
            for name, tag in EXIF_SUB_TAGS.items():
                v = _clean(sub.get(tag), MAX_TEXT if name == "UserComment" else MAX_FIELD)
                if v:
                    exif[name] = v
        except Exception:  # malformed EXIF is common and never fatal: the hint is just missing
            pass
        info = img.info or {}
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        if xmp is None and media.media_type == "image/tiff":
            try:
                xmp = img.tag_v2.get(700)
            except Exception:
                xmp = None
        finding.xmp_digital_source_type = xmp_digital_source_type(xmp)

        texts = _png_text(img) if media.media_type in ("image/png", "image/webp", "image/gif") else {}
        for key, hint in GENERATOR_CHUNKS.items():
            if texts.get(key):
                if key == "prompt" and not _is_json_object(texts[key]):
                    hint = "text chunk 'prompt' (generation prompt)"
                finding.generator_text, finding.generator_hint = _generator_text(key, texts[key]), hint
                break
        else:
            comment = exif.get("UserComment")
            if comment and _A1111_RE.search(comment):  # A1111 writes its parameters here in JPEG/WebP
                finding.generator_text = comment[:MAX_TEXT]
                finding.generator_hint = "AUTOMATIC1111 / Stable Diffusion web UI (EXIF UserComment)"
            else:
                for tag in ("Software", "Model", "Make"):
                    value = (exif.get(tag) or "").lower()
                    if any(s in value for s in GENERATOR_SOFTWARE):
                        finding.generator_text = exif[tag]
                        finding.generator_hint = f"EXIF {tag} names a generator"
                        break
        finding.exif = exif
    finally:
        img.close()
    return finding


def _is_json_object(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except (ValueError, RecursionError):
        return False


def _generator_text(key: str, value: str) -> str:
    value = value.replace("\x00", "")
    if key in ("prompt", "workflow"):  # ComfyUI graphs are JSON; keep them compact
        try:
            value = json.dumps(json.loads(value), separators=(",", ":"), ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"


def check_integrity(media) -> None:
    """Raise Corrupt for a truncated JPEG or PNG (cheap: no pixel decoding)."""
    if media.media_type == "image/jpeg":
        if not jpeg_is_complete(media.data):
            raise Corrupt(f"{media.path} is a truncated or corrupt JPEG (no end-of-image marker after the scan data)")
    elif media.media_type == "image/png":
        from ..media import open_header

        try:
            with open_header(media.path) as img:
                img.verify()  # walks every chunk and checks CRCs, without inflating pixel data
        except Exception as exc:
            raise Corrupt(f"{media.path} is a truncated or corrupt PNG: {exc}") from None


class MetadataAnalyser:
    """EXIF / XMP / text-chunk hints for images, plus a cheap truncation check."""

    name = "metadata"

    def applies_to(self, media, options) -> bool:
        return media.is_image

    def analyse(self, media, ctx) -> MetadataFinding:
        check_integrity(media)
        return read_metadata(media)
