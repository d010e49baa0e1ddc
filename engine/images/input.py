"""Input hygiene for user images: sniff, bound, decode safely, normalise.

Every attachment passes through here before any model sees it. The checks run in order of cost:
byte size, content type from magic bytes, pixel count from the header, then the decode itself.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

ALLOWED_TYPES = ("PNG", "JPEG", "WebP", "GIF")
_ALLOWED_TEXT = "PNG, JPEG, WebP or GIF"


class ImageRejected(ValueError):
    """An uploaded image cannot be used; the message is safe to show to the user."""


def sniff_type(data: bytes) -> str | None:
    """Return the image type named by the file's magic bytes, or None when it is not an allowed type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def _human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def open_checked(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Validate and decode an upload, keeping its mode (alpha included).

    Returns the first frame, fully loaded, with its EXIF orientation applied.
    Raises ImageRejected with a user-safe message on any refusal.
    """
    if not data:
        raise ImageRejected("The file is empty. Upload a PNG, JPEG, WebP or GIF image.")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"The image is too large ({_human_bytes(len(data))}); the limit is {_human_bytes(max_bytes)}. "
            "Upload a smaller or more compressed file."
        )
    kind = sniff_type(data)
    if kind is None:
        raise ImageRejected(f"That file is not a supported image. Upload a {_ALLOWED_TEXT} file.")

    # Our own pixel limit is checked from the header; PIL's bomb check is a second net behind it.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=[_pil_format(kind)])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            f"The image has too many pixels; the limit is {max_pixels:,}. Upload a smaller image."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The {kind} file could not be read; it may be damaged. Try re-saving it.") from exc

    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected("The image has no pixels. Upload a different file.")
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,}. "
            "Upload a smaller image."
        )

    try:
        # An animated image opens on its first frame; seek(0) makes that explicit.
        if getattr(image, "is_animated", False):
            image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(
            f"The {kind} file is truncated or damaged and could not be decoded. Try re-saving it."
        ) from exc
    log.debug("accepted %s image %dx%d mode %s", kind, image.width, image.height, image.mode)
    return image


def _pil_format(kind: str) -> str:
    return "WEBP" if kind == "WebP" else kind


def flatten_to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Return an RGB copy with any transparency composited onto `background` (white by default)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode == "RGB":
        return image.copy()
    if image.mode in WIDE_MODES:
        return wide_to_l(image).convert("RGB")
    return image.convert("RGB")


WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")


def wide_to_l(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float greyscale → 'L', scaled rather than clipped.

    Values above 255 mean a 16-bit range; values of 1.0 or less in a float image mean a 0..1 range.
    """
    _low, high = cast("tuple[float, float]", image.getextrema())  # one band: (lowest, highest)
    if high > 255:
        scale = 255 / 65535
    elif image.mode == "F" and high <= 1.0:
        scale = 255.0
    else:
        scale = 1.0
    return image.convert("F").point(lambda v: v * scale).convert("L")


def load_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode an upload into an RGB image after every hygiene check (see open_checked)."""
    return flatten_to_rgb(open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels))


def fit_size(width: int, height: int, target_area: int, multiple: int) -> tuple[int, int]:
    """Size with about `target_area` pixels, the aspect of width:height, both sides multiples of `multiple`."""
    if width <= 0 or height <= 0:
        raise ValueError("image sides must be positive")
    if target_area <= 0 or multiple <= 0:
        raise ValueError("target_area and multiple must be positive")
    scale = math.sqrt(target_area / (width * height))
    new_w = max(multiple, round(width * scale / multiple) * multiple)
    new_h = max(multiple, round(height * scale / multiple) * multiple)
    return new_w, new_h


def fit_to_model(image: Image.Image, target_area: int, multiple: int) -> Image.Image:
    """Resize keeping the aspect to about `target_area` pixels, both sides multiples of `multiple`."""
    size = fit_size(image.width, image.height, target_area, multiple)
    if size == image.size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS)
