"""Input hygiene: every refusal and transformation, on images made here."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from engine.images.input import ImageRejected, fit_size, fit_to_model, load_image, open_checked, sniff_type

LIMITS = {"max_bytes": 2 * 1024 * 1024, "max_pixels": 1024 * 1024}


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas (the data is never needed: the header must refuse it)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("WEBP", "WebP"), ("GIF", "GIF")])
def test_allowed_types_load_as_rgb(fmt: str, kind: str) -> None:
    data = _encode(Image.new("RGB", (20, 10), (10, 200, 30)), fmt)
    assert sniff_type(data) == kind
    image = load_image(data, **LIMITS)
    assert image.mode == "RGB"
    assert image.size == (20, 10)
    r, g, b = image.getpixel((5, 5))
    assert (g > 150, r < 60, b < 80) == (True, True, True)


def test_text_file_named_png_is_refused_naming_the_allowed_types() -> None:
    with pytest.raises(ImageRejected, match=r"PNG, JPEG, WebP or GIF"):
        load_image(b"hello, I am plain text pretending to be a .png\n", **LIMITS)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_image_types_are_refused(fmt: str) -> None:
    data = _encode(Image.new("RGB", (8, 8)), fmt)
    with pytest.raises(ImageRejected, match="supported"):
        load_image(data, **LIMITS)


def test_empty_file_is_refused() -> None:
    with pytest.raises(ImageRejected, match="empty"):
        load_image(b"", **LIMITS)


def test_byte_limit() -> None:
    data = _encode(Image.effect_noise((64, 64), 80).convert("RGB"), "PNG")
    with pytest.raises(ImageRejected, match="too large"):
        load_image(data, max_bytes=len(data) - 1, max_pixels=10**6)
    assert load_image(data, max_bytes=len(data), max_pixels=10**6).size == (64, 64)


def test_pixel_limit_from_header() -> None:
    data = _encode(Image.new("RGB", (100, 50)), "PNG")
    with pytest.raises(ImageRejected, match="5,000 pixels"):
        load_image(data, max_bytes=10**6, max_pixels=4999)
    assert load_image(data, max_bytes=10**6, max_pixels=5000).size == (100, 50)


def test_bomb_header_is_refused_before_decoding() -> None:
    data = _bomb_png(50_000, 50_000)
    assert len(data) < 200
    with pytest.raises(ImageRejected, match="pixels"):
        load_image(data, max_bytes=10**6, max_pixels=10**12)  # PIL's own bomb guard trips here
    with pytest.raises(ImageRejected, match="limit"):
        load_image(_bomb_png(4000, 4000), max_bytes=10**6, max_pixels=10**6)  # ours trips here


def test_truncated_png_is_refused() -> None:
    data = _encode(Image.effect_noise((64, 64), 80).convert("RGB"), "PNG")
    with pytest.raises(ImageRejected, match="truncated or damaged"):
        load_image(data[: len(data) // 2], **LIMITS)


def test_corrupt_header_is_refused() -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    with pytest.raises(ImageRejected, match="could not be read"):
        load_image(data, **LIMITS)


def test_exif_orientation_is_applied() -> None:
    # A 40x20 image whose left half is black; orientation 6 means "rotate 90° clockwise to display".
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(image, "JPEG", exif=exif.tobytes(), quality=95)
    loaded = load_image(data, **LIMITS)
    assert loaded.size == (20, 40)
    assert sum(loaded.getpixel((10, 5))) < 100  # the black half is now on top
    assert sum(loaded.getpixel((10, 35))) > 600
    assert 0x0112 not in loaded.getexif()


def test_transparency_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 5, 10))
    image.paste((0, 0, 255, 128), (5, 0, 10, 10))
    loaded = load_image(_encode(image, "PNG"), **LIMITS)
    assert loaded.mode == "RGB"
    assert loaded.getpixel((2, 2)) == (255, 0, 0)
    r, g, b = loaded.getpixel((7, 2))  # half-transparent blue over white
    assert b == 255
    assert 120 <= r <= 135
    assert 120 <= g <= 135


def test_palette_transparency_is_flattened() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))
    data = _encode(image, "PNG", transparency=0)
    loaded = load_image(data, **LIMITS)
    assert loaded.getpixel((1, 1)) == (0, 255, 0)
    assert loaded.getpixel((6, 1)) == (255, 255, 255)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    loaded = load_image(data, **LIMITS)
    r, g, b = loaded.getpixel((8, 8))
    assert (r > 200, g < 50, b < 50) == (True, True, True)


def test_sixteen_bit_png_keeps_its_range() -> None:
    image = Image.new("I;16", (4, 4), 65535)
    loaded = load_image(_encode(image, "PNG"), **LIMITS)
    assert loaded.getpixel((0, 0)) == (255, 255, 255)


def test_open_checked_keeps_alpha() -> None:
    data = _encode(Image.new("RGBA", (4, 4), (1, 2, 3, 0)), "PNG")
    assert open_checked(data, **LIMITS).mode == "RGBA"


@pytest.mark.parametrize(
    ("size", "area", "multiple"),
    [((1000, 500), 512 * 512, 8), ((300, 900), 1024 * 1024, 64), ((512, 512), 512 * 512, 8), ((7, 3000), 4096, 8)],
)
def test_fit_size_keeps_aspect_area_and_multiple(size: tuple[int, int], area: int, multiple: int) -> None:
    w, h = fit_size(*size, area, multiple)
    assert (w % multiple, h % multiple) == (0, 0)
    assert min(w, h) >= multiple
    if min(size) * (area / (size[0] * size[1])) ** 0.5 >= 2 * multiple:
        assert abs(w * h - area) / area < 0.15
        assert abs(w / h - size[0] / size[1]) / (size[0] / size[1]) < 0.1


def test_fit_to_model_resizes() -> None:
    image = Image.new("RGB", (1200, 800), (9, 9, 9))
    fitted = fit_to_model(image, 512 * 512, 64)
    assert fitted.size == (640, 448)
    assert fitted.getpixel((0, 0)) == (9, 9, 9)
    assert fit_to_model(fitted, 640 * 448, 64).size == (640, 448)


def test_fit_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        fit_size(10, 10, 0, 8)
