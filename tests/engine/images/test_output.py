"""Files out: A1111 parameters text, PNG metadata, grids, upload encoding."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.images.output import (
    a1111_parameters,
    encode_for_upload,
    grid_shape,
    make_grid,
    parse_a1111_parameters,
    save_png,
)


def _noise(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> Image.Image:
    return Image.new("RGB", size, color)


BASE = {
    "prompt": "a red fox in the snow, highly detailed",
    "negative_prompt": "blurry, lowres",
    "steps": 25,
    "sampler": "DPM++ 2M",
    "cfg_scale": 7.0,
    "seed": 1234,
    "width": 512,
    "height": 768,
    "model": "sd15",
}


def test_a1111_text_matches_the_webui_layout() -> None:
    text = a1111_parameters(**BASE, loras=[("fox-style", 0.8), ("detail", 1.0)])
    assert text.split("\n") == [
        "a red fox in the snow, highly detailed <lora:fox-style:0.8> <lora:detail:1>",
        "Negative prompt: blurry, lowres",
        "Steps: 25, Sampler: DPM++ 2M, CFG scale: 7.0, Seed: 1234, Size: 512x768, Model: sd15",
    ]


def test_a1111_text_writes_hashes_schedule_and_version_where_the_webui_does() -> None:
    text = a1111_parameters(
        **BASE,
        loras=[("fox-style", 0.8)],
        extra={"Denoising strength": 0.6},
        schedule_type="Karras",
        model_hash="0123456789",
        lora_hashes={"fox-style": "abcdef012345"},
        version="studio-bot 0.1.0",
        hashes={"model": "0123456789", "lora:fox-style": "fedcba9876"},
    )
    assert text.split("\n")[-1] == (
        "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 1234, Size: 512x768, "
        'Model hash: 0123456789, Model: sd15, Denoising strength: 0.6, Lora hashes: "fox-style: abcdef012345", '
        'Version: studio-bot 0.1.0, Hashes: {"model": "0123456789", "lora:fox-style": "fedcba9876"}'
    )


def test_lora_hash_names_lose_commas_and_colons_as_in_the_webui() -> None:
    text = a1111_parameters(**BASE, lora_hashes={"a, b": "111111111111", "c": "222222222222"})
    assert 'Lora hashes: "a b: 111111111111, c: 222222222222"' in text
    assert parse_a1111_parameters(text)["lora_hashes"] == {"a b": "111111111111", "c": "222222222222"}


def test_no_negative_line_without_a_negative_prompt() -> None:
    text = a1111_parameters(**{**BASE, "negative_prompt": ""})
    assert "Negative prompt" not in text
    assert text.count("\n") == 1


_NAMED = {
    "schedule_type": "Karras",
    "model_hash": "0123456789",
    "lora_hashes": {"fox-style": "abcdef012345", "b": "0123456789ab"},
    "version": "studio-bot 0.1.0",
    "hashes": {"model": "0123456789", "lora:fox-style": "fedcba9876"},
}


@pytest.mark.parametrize(
    ("overrides", "loras", "extra", "named"),
    [
        ({}, (), {}, {}),
        ({}, (("fox-style", 0.8), ("b", 1.25)), {"Denoising strength": "0.6"}, _NAMED),
        ({"negative_prompt": None, "cfg_scale": 4.5, "seed": 2**32 - 1}, (("x", -0.5),), {}, {}),
        (
            {"prompt": "line one,\nline two: with colon", "negative_prompt": "bad\nworse", "model": "my, model"},
            (),
            {"Note": 'has "quotes", commas: and colons'},
            {"schedule_type": "Uniform", "version": "v1.10.1"},
        ),
        ({"prompt": "ünïcödé 猫", "sampler": "Euler a"}, (), {}, {}),
    ],
)
def test_parameters_round_trip(overrides: dict, loras: tuple, extra: dict, named: dict) -> None:
    args = {**BASE, **overrides}
    text = a1111_parameters(**args, loras=loras, extra=extra, **named)
    parsed = parse_a1111_parameters(text)
    expected = {**args, "negative_prompt": args["negative_prompt"] or None, "loras": tuple(loras), "extra": extra}
    assert parsed == expected | named


def test_parse_reads_a_webui_text_with_unknown_settings() -> None:
    text = (
        "masterpiece, 1girl <lora:styleA:0.7>\n"
        "Negative prompt: worst quality\n"
        "Steps: 30, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: 99, Size: 832x1216, "
        'Model hash: abc123, Model: sdxl_base, Lora hashes: "styleA: 1234abcd", Version: v1.10.1'
    )
    parsed = parse_a1111_parameters(text)
    assert parsed["prompt"] == "masterpiece, 1girl"
    assert parsed["loras"] == (("styleA", 0.7),)
    assert (parsed["steps"], parsed["cfg_scale"], parsed["seed"]) == (30, 6.5, 99)
    assert (parsed["width"], parsed["height"], parsed["model"]) == (832, 1216, "sdxl_base")
    assert (parsed["schedule_type"], parsed["model_hash"], parsed["version"]) == ("Karras", "abc123", "v1.10.1")
    assert parsed["lora_hashes"] == {"styleA": "1234abcd"}
    assert parsed["extra"] == {}


def test_bad_lora_name_and_extra_key_are_refused() -> None:
    with pytest.raises(ValueError, match="slug"):
        a1111_parameters(**BASE, loras=[("a:b", 1.0)])
    with pytest.raises(ValueError, match="reserved"):
        a1111_parameters(**BASE, extra={"Seed": 1})


@pytest.mark.parametrize("prompt", ["plain ascii", "ünïcödé and 猫"])
def test_save_png_writes_parameters_and_returns_hash(tmp_path: Path, prompt: str) -> None:
    text = a1111_parameters(**{**BASE, "prompt": prompt})
    path = tmp_path / "out" / "img.png"
    digest, size = save_png(_noise(32), path, text)
    data = path.read_bytes()
    assert size == len(data) == os.path.getsize(path)
    assert digest == hashlib.sha256(data).hexdigest()
    with Image.open(path) as reopened:
        assert reopened.format == "PNG"
        assert reopened.text["parameters"] == text
        assert np.array_equal(np.asarray(reopened.convert("RGB")), np.asarray(_noise(32)))
    assert [p.name for p in path.parent.iterdir()] == ["img.png"], "no temp file may remain"


def test_save_png_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    save_png(_solid((1, 2, 3)), path, "first")
    save_png(_solid((9, 8, 7)), path, "second")
    with Image.open(path) as reopened:
        assert reopened.text["parameters"] == "second"
        assert reopened.getpixel((0, 0)) == (9, 8, 7)


def test_save_png_leaves_no_temp_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "taken.png"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):  # noqa: PT011 - the errno differs between systems
        save_png(_solid((1, 2, 3)), target, "x")
    assert target.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


@pytest.mark.parametrize(
    ("count", "shape"),
    [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)), (6, (2, 3)), (8, (2, 4)), (9, (3, 3))],
)
def test_grid_shape(count: int, shape: tuple[int, int]) -> None:
    assert grid_shape(count) == shape
    rows, cols = shape
    assert rows * cols >= count > (rows - 1) * cols


@pytest.mark.parametrize("count", [1, 2, 4, 5, 8])
def test_make_grid_places_image_n_in_cell_n(count: int) -> None:
    colors = [(i * 30, 255 - i * 30, (i * 70) % 256) for i in range(count)]
    images = [_solid(c) for c in colors]
    grid = make_grid(images)
    rows, cols = grid_shape(count)
    assert grid.size == (cols * 8, rows * 6)
    for index, color in enumerate(colors):
        row, col = divmod(index, cols)
        assert grid.getpixel((col * 8 + 4, row * 6 + 3)) == color


def test_make_grid_refuses_mixed_sizes_and_empty_input() -> None:
    with pytest.raises(ValueError, match="one size"):
        make_grid([_solid((0, 0, 0)), _solid((0, 0, 0), (9, 9))])
    with pytest.raises(ValueError, match="at least one"):
        make_grid([])


def test_small_image_uploads_as_png() -> None:
    data, ext = encode_for_upload(_noise(64))
    assert ext == "png"
    assert Image.open(io.BytesIO(data)).format == "PNG"


@pytest.mark.parametrize(("max_bytes", "ext"), [(8 * 1024 * 1024, "png"), (32 * 1024, "webp")])
def test_an_upload_carries_its_parameters_where_a1111_puts_them(max_bytes: int, ext: str) -> None:
    text = a1111_parameters(**{**BASE, "prompt": "ünïcödé 猫, a fox"})
    data, got = encode_for_upload(_noise(256), max_bytes=max_bytes, parameters=text)
    assert got == ext and len(data) <= max_bytes
    with Image.open(io.BytesIO(data)) as image:
        if ext == "png":
            assert image.text["parameters"] == text
        else:  # EXIF UserComment: an 8-byte character-code prefix, then UTF-16 big-endian
            comment = image.getexif().get_ifd(0x8769)[0x9286]
            assert comment[:8] == b"UNICODE\0" and comment[8:].decode("utf-16-be") == text


def test_noisy_large_image_is_shrunk_under_a_tight_limit() -> None:
    image = _noise(2048)
    limit = 300 * 1024
    data, ext = encode_for_upload(image, max_bytes=limit)
    assert len(data) <= limit
    assert ext in {"webp", "jpg"}
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == {"webp": "WEBP", "jpg": "JPEG"}[ext]
    assert decoded.width < 2048
    # Aspect ratio is kept.
    assert abs(decoded.width - decoded.height) <= 1


def test_default_limit_switches_noise_to_lossy_without_shrinking() -> None:
    image = _noise(2048, seed=1)  # ~12 MB as PNG: over the 8 MiB default
    data, ext = encode_for_upload(image)
    assert ext != "png"
    assert len(data) <= 8 * 1024 * 1024
    assert Image.open(io.BytesIO(data)).size == (2048, 2048)
