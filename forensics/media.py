"""Opening media safely: content sniffing, size and decompression-bomb guards, lazy decoding.

Every analyser receives a :class:`Media`. Decoding happens at most once per file and only when an
analyser asks for pixels; metadata-only analysers never pay for it.
"""
from __future__ import annotations

import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

from .config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from .errors import Corrupt, MediaError, NotFound, TooLarge, Unsupported

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

IMAGE_TYPES = {
    "image/jpeg", "image/png", "image/webp", "image/tiff", "image/avif", "image/gif", "image/heic",
    "image/bmp",
}
VIDEO_TYPES = {"video/mp4", "video/quicktime"}
EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/tiff": ".tif",
    "image/avif": ".avif", "image/gif": ".gif", "image/heic": ".heic", "image/bmp": ".bmp",
    "video/mp4": ".mp4", "video/quicktime": ".mov",
}


def sniff(head: bytes) -> str | None:
    """Media type from the first bytes of a file (never from its name)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM" and len(head) >= 26:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    return None


def sniff_path(path: str | os.PathLike) -> str | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(64))


# What native decoders raise on hostile or damaged input. Pillow: OSError (truncated, broken stream),
# ValueError (e.g. a zTXt chunk that inflates past MAX_TEXT_CHUNK), SyntaxError (bad header), struct.error,
# EOFError, and plugin bugs (IndexError, KeyError, TypeError, ZeroDivisionError…); OpenCV: cv2.error.
DECODER_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
    RuntimeError, AttributeError, AssertionError, OverflowError, RecursionError,
)


def _is_cv2_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("cv2")


@contextmanager
def decoder_errors(what: str | os.PathLike, action: str = "decoded") -> Iterator[None]:
    """The one place decoder exceptions become :class:`Corrupt` / :class:`TooLarge`.

    Every entry point (verify, audit, detect, sign, watermark, the service) decodes through :class:`Media`
    or :func:`open_image`, which run their decoder calls inside this block, so a hostile file yields the
    same ``corrupt`` / ``too_large`` error everywhere and never a traceback or an ``internal`` error.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"{what}: too many pixels to decode safely ({exc})") from None
    except MemoryError:
        raise TooLarge(f"{what}: not enough memory to decode it") from None
    except UnidentifiedImageError:
        raise Corrupt(f"{what} cannot be parsed as an image") from None
    except DECODER_ERRORS as exc:
        raise Corrupt(f"{what} is corrupt and cannot be {action}: {_short(exc)}") from None
    except Exception as exc:
        if _is_cv2_error(exc):
            raise Corrupt(f"{what} is corrupt and cannot be {action}: {_short(exc)}") from None
        raise


def _short(exc: BaseException, limit: int = 200) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit] + "…"


def open_header(source: "str | os.PathLike | IO[bytes]") -> "Image.Image":
    """``Image.open`` (header only) where our own pixel limit, checked by the caller, is the only one.

    ``Image.MAX_IMAGE_PIXELS`` and the warning filters are never changed (both are process-wide, and a
    ``catch_warnings`` block is not thread-safe): Pillow's bomb warning follows the host's settings, and an
    image Pillow refuses by its own ceiling is opened by its format plugin directly, so that the caller
    reports its size against our limit (nothing is decoded either way).
    """
    from PIL import Image

    try:
        return Image.open(source)
    except Image.DecompressionBombError:
        return _open_header_unchecked(source)


def _open_header_unchecked(source: "str | os.PathLike | IO[bytes]") -> "Image.Image":
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            prefix = fh.read(16)
    else:
        source.seek(0)
        prefix = source.read(16)
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        ok = not accept or accept(prefix)
        if not ok or isinstance(ok, str):
            continue
        if not isinstance(source, (str, os.PathLike)):
            source.seek(0)
        try:
            return factory(os.fspath(source) if isinstance(source, os.PathLike) else source)
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue
    raise UnidentifiedImageError("cannot identify image file")


def open_image(source: "str | os.PathLike | bytes", *, max_pixels: int = DEFAULT_MAX_PIXELS,
               what: str | None = None) -> "Image.Image":
    """Open and fully decode an image from a path or bytes, with the pixel limit and the shared error mapping.

    For callers that get image bytes outside :class:`Media` (generation's init image and mask).
    """
    import io

    label = what or (str(source) if not isinstance(source, bytes) else "the image")
    with decoder_errors(label):
        img = open_header(io.BytesIO(source) if isinstance(source, bytes) else source)
        w, h = img.size
        if w * h > max_pixels:
            img.close()
            raise TooLarge(f"{label} is {w}x{h} pixels, over the {max_pixels}-pixel limit "
                           "(decompression-bomb guard; nothing was decoded)")
        img.load()
    return img


@dataclass
class Media:
    """One input file, opened lazily. Construct with :meth:`open`."""

    path: Path
    media_type: str
    size_bytes: int
    max_pixels: int = DEFAULT_MAX_PIXELS
    _data: bytes | None = field(default=None, repr=False)
    _image: "Image.Image | None" = field(default=None, repr=False)
    _rgb: dict = field(default_factory=dict, repr=False)
    _dimensions: tuple[int, int] | None = field(default=None, repr=False)
    # Set when an analyser will need the native pixels anyway (the detector): every smaller copy is then
    # derived from the one full decode instead of paying a reduced-scale decode as well.
    full_decode_expected: bool = field(default=False, repr=False)
    _mode: str | None = field(default=None, repr=False)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> "Media":
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise NotFound(f"no such file: {p}") from None
        except OSError as exc:
            raise MediaError(f"cannot access {p}: {exc.strerror or exc}") from None
        if p.is_dir():
            raise Unsupported(f"{p} is a directory (use `forensics audit` for folders)")
        if not p.is_file():
            raise Unsupported(f"{p} is not a regular file")
        if st.st_size == 0:
            raise Corrupt(f"{p} is empty (0 bytes)")
        if st.st_size > max_bytes:
            raise TooLarge(f"{p} is {st.st_size} bytes, over the {max_bytes}-byte limit")
        try:
            media_type = sniff_path(p)
        except OSError as exc:
            raise MediaError(f"cannot read {p}: {exc.strerror or exc}") from None
        if media_type is None:
            raise Unsupported(f"{p} is not a supported image or video (unrecognised content)")
        media = cls(path=p, media_type=media_type, size_bytes=st.st_size, max_pixels=max_pixels)
        if media.is_image:
            media.dimensions  # header-only check: refuses bombs and garbage before any decode
        return media

    @property
    def is_image(self) -> bool:
        return self.media_type in IMAGE_TYPES

    @property
    def is_video(self) -> bool:
        return self.media_type in VIDEO_TYPES

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.path.read_bytes()
        return self._data

    # -- images -------------------------------------------------------------------------------
    def _open_pil(self) -> "Image.Image":
        with decoder_errors(self.path, "parsed"):
            img = open_header(self.path)
        w, h = img.size
        if w * h > self.max_pixels:
            img.close()
            raise TooLarge(f"{self.path} is {w}x{h} pixels, over the {self.max_pixels}-pixel limit "
                           "(decompression-bomb guard; nothing was decoded)")
        return img

    @property
    def dimensions(self) -> tuple[int, int]:
        """(width, height) from the header, without decoding pixels."""
        if self._dimensions is None:
            if self.is_video:
                raise Unsupported("dimensions() is for images")
            img = self._open_pil()
            self._dimensions = img.size
            self._mode = img.mode
            img.close()
        return self._dimensions

    def image(self) -> "Image.Image":
        """The decoded first frame as a PIL image (decoded once, cached)."""
        if self._image is None:
            img = self._open_pil()
            with decoder_errors(self.path):
                img.load()
            self._image = img
        return self._image

    def rgb(self, max_side: int | None = None) -> "np.ndarray":
        """HxWx3 uint8 RGB pixels, optionally downscaled so the long side is at most ``max_side``.

        With ``max_side``, a large JPEG may come back between 3/4 of ``max_side`` and ``max_side`` (it is
        decoded at a reduced DCT scale); callers that need an exact size resize themselves."""
        import numpy as np

        key = max_side or 0
        if key not in self._rgb and max_side and self.is_image and max(self.dimensions) <= max_side:
            self._rgb[key] = self.rgb()  # already small enough: the same pixels, not a second conversion
        if key not in self._rgb:
            from .imaging import to_rgb_uint8

            # several analysers ask for different sizes: derive from the smallest array already decoded
            # that is large enough, instead of converting (or decoding) the image again
            have = [a for k, a in self._rgb.items() if k == 0 or (max_side and k > max_side)]
            draft = max_side and self._image is None and not have and not self.full_decode_expected
            img = self._draft_decode(max_side) if draft else None
            if have and max_side:
                arr = min(have, key=lambda a: a.shape[0] * a.shape[1])
            elif img is not None:
                arr = to_rgb_uint8(img)
            else:
                with decoder_errors(self.path, "converted to RGB"):
                    arr = self._native_rgb()
                if max_side and self.full_decode_expected:
                    self._rgb[0] = np.ascontiguousarray(arr)  # the native copy the detector will ask for
            if max_side and max(arr.shape[:2]) > max_side:
                import cv2

                h, w = arr.shape[:2]
                k = -(-max(h, w) // max_side)  # an integer factor keeps INTER_AREA on its fast path (~4x)
                if self.full_decode_expected and k > 1 and max(h, w) // k >= 0.75 * max_side:
                    arr = cv2.resize(arr[: h // k * k, : w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
                else:
                    s = max_side / max(h, w)
                    arr = cv2.resize(arr, (max(1, round(w * s)), max(1, round(h * s))),
                                     interpolation=cv2.INTER_AREA)
            self._rgb[key] = np.ascontiguousarray(arr)
        return self._rgb[key]

    def _native_rgb(self) -> "np.ndarray":
        """Native-resolution RGB. A complete colour JPEG is decoded by OpenCV straight into an array (the
        same libjpeg-turbo output as Pillow's, bit for bit, without Pillow's copy into numpy, which costs
        as much as the decode on 12-MP files); anything else — and any doubt — goes through Pillow."""
        from .imaging import to_rgb_uint8

        if self.media_type == "image/jpeg" and self._image is None and self._mode == "RGB":
            arr = self._cv2_jpeg()
            if arr is not None:
                return arr
        return to_rgb_uint8(self.image())

    def _cv2_jpeg(self) -> "np.ndarray | None":
        import numpy as np

        try:
            import cv2

            data = np.fromfile(self.path, dtype=np.uint8)
        except (ImportError, OSError, ValueError):
            return None
        # A truncated JPEG must stay a `corrupt` error (Pillow's verdict); OpenCV would pad it silently. Only
        # a stream that ends with its EOI marker is decoded here (files with trailers go through Pillow).
        end = len(data)
        while end > 2 and data[end - 1] == 0:
            end -= 1
        if end < 4 or data[end - 2] != 0xFF or data[end - 1] != 0xD9:
            return None
        # OpenCV >= 4.10 has libjpeg-turbo write RGB directly (the same pixels, no 12-MP channel swap)
        rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
        flags = (rgb_flag if rgb_flag is not None else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
        arr = cv2.imdecode(data, flags)
        w, h = self.dimensions
        if arr is None or arr.shape != (h, w, 3):
            return None
        return arr if rgb_flag is not None else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)

    def _draft_decode(self, max_side: int) -> "Image.Image | None":
        """JPEG only: decode at a reduced DCT scale (1/2, 1/4, 1/8) that still covers ``max_side``.

        A 12 MP JPEG decodes in ~40 ms this way instead of ~150 ms; analysers that work at a fixed working
        resolution (the watermark) ask for it. Other formats fall back to the full decode.
        """
        if self.media_type != "image/jpeg":
            return None
        w, h = self.dimensions
        # Accept a DCT scale whose result is at least 3/4 of max_side (then no resize at all): the callers
        # want "about this size, at most max_side", and 1/4 instead of 1/2 halves the decode again.
        scale = 0.75 * max_side / max(w, h)
        if scale >= 0.5:
            return None
        img = self._open_pil()
        with decoder_errors(self.path):
            img.draft("RGB", (max(1, int(w * scale + 1)), max(1, int(h * scale + 1))))
            img.load()
        return img

    # -- video --------------------------------------------------------------------------------
    def video_info(self) -> dict:
        import cv2

        with decoder_errors(self.path):
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise Corrupt(f"{self.path}: video cannot be decoded")
                fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
                n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
                h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            finally:
                cap.release()
        return {"fps": fps, "frames": n, "width": w, "height": h, "duration": (n / fps) if fps else None}

    def sample_frames(self, max_frames: int = 16, max_side: int | None = 1024) -> Iterator[tuple[float, "np.ndarray"]]:
        """Yield (timestamp seconds, RGB uint8 frame) for up to ``max_frames`` evenly spaced frames."""
        import cv2
        import numpy as np

        info = self.video_info()
        if info["width"] * info["height"] > self.max_pixels:
            raise TooLarge(f"{self.path}: frames of {info['width']}x{info['height']} exceed the pixel limit")
        cap = cv2.VideoCapture(str(self.path))
        try:
            n = info["frames"]
            fps = info["fps"] or 25.0
            idx = sorted(set(np.linspace(0, max(n - 1, 0), num=min(max_frames, max(n, 1))).astype(int).tolist()))
            pos = 0  # index of the next frame a plain read() returns (a fresh capture starts at 0); -1: unknown
            for i in idx:
                # Seeking decodes from the previous keyframe each time (and is inexact for some codecs);
                # for nearby frames, grabbing forward (decode without conversion) is several times faster.
                if pos < 0 or i < pos or i - pos > 48:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                    pos = i
                while pos < i and cap.grab():
                    pos += 1
                ok, frame = cap.read()
                pos = pos + 1 if ok else -1
                if not ok:
                    continue
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if max_side and max(frame.shape[:2]) > max_side:
                    h, w = frame.shape[:2]
                    s = max_side / max(h, w)
                    frame = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
                yield i / fps, frame
        finally:
            cap.release()
