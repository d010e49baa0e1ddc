"""Captioners and /describe, with the tiny random BLIP and synthetic images."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

from engine.vision.captioner import (
    BlipCaptioner,
    Captioner,
    CaptionerUnavailable,
    Florence2Captioner,
    clean_caption,
    describe,
    tiny_captioner,
)
from engine.vision.pixel_reading import read_pixels


@pytest.fixture(scope="module")
def captioner() -> BlipCaptioner:
    return tiny_captioner(seed=0)


def _scene() -> Image.Image:
    image = Image.new("RGB", (96, 64), (40, 90, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 40, 96, 64), fill=(30, 140, 40))
    draw.ellipse((30, 10, 60, 40), fill=(240, 220, 40))
    return image


def test_tiny_captioner_is_a_captioner(captioner: BlipCaptioner) -> None:
    assert isinstance(captioner, Captioner)


@pytest.mark.parametrize("detail", ["short", "detailed"])
def test_tiny_caption_is_deterministic_text(captioner: BlipCaptioner, detail: str) -> None:
    first = captioner.caption(_scene(), detail)
    assert isinstance(first, str)
    assert first.strip()
    assert captioner.caption(_scene(), detail) == first


def test_same_seed_same_weights_other_seed_differs(captioner: BlipCaptioner) -> None:
    again = tiny_captioner(seed=0)
    other = tiny_captioner(seed=1)
    ref = captioner.model.text_decoder.cls.predictions.decoder.weight
    assert torch.equal(again.model.text_decoder.cls.predictions.decoder.weight, ref)
    assert not torch.equal(other.model.text_decoder.cls.predictions.decoder.weight, ref)


def test_bad_detail_is_refused(captioner: BlipCaptioner) -> None:
    with pytest.raises(ValueError, match="detail"):
        captioner.caption(_scene(), "verbose")  # type: ignore[arg-type]


def test_missing_weights_name_the_model_and_the_fix(tmp_path) -> None:
    with pytest.raises(CaptionerUnavailable, match=r"BLIP.*Salesforce/blip-image-captioning-base.*hf download"):
        BlipCaptioner.from_pretrained("Salesforce/blip-image-captioning-base", offline=True)
    with pytest.raises(CaptionerUnavailable, match=r"Florence-2.*folder holds"):
        Florence2Captioner.from_pretrained(tmp_path / "florence", offline=True)


class _RecordingProcessor:
    """Stands in for Florence-2's processor to check which task prompt the captioner sends."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, *, text, images, return_tensors):
        self.texts.append(text)
        return {"input_ids": torch.tensor([[0, 1]]), "pixel_values": torch.zeros(1, 3, 4, 4)}

    def batch_decode(self, ids, skip_special_tokens):
        return ["  A cat on a mat.  "]


class _EchoModel(torch.nn.Module):
    dtype = torch.float32

    def generate(self, **kwargs):
        assert kwargs["pixel_values"].dtype == torch.float32
        return kwargs["input_ids"]


def test_florence2_sends_task_prompts() -> None:
    processor = _RecordingProcessor()
    florence = Florence2Captioner(_EchoModel(), processor)
    assert florence.caption(_scene(), "short") == "A cat on a mat"
    florence.caption(_scene(), "detailed")
    assert processor.texts == ["<CAPTION>", "<MORE_DETAILED_CAPTION>"]


def test_clean_caption() -> None:
    assert clean_caption("  there is a  dog\non the beach . ") == "a dog on the beach"
    assert clean_caption("a picture of") == "a picture of"


# ---------------------------------------------------------------- pixel readings


def test_dark_image_reads_low_key() -> None:
    assert read_pixels(Image.new("RGB", (64, 64), (12, 10, 14))).lighting == "low-key lighting"


def test_bright_image_reads_high_key() -> None:
    assert read_pixels(Image.new("RGB", (64, 64), (245, 245, 240))).lighting == "bright high-key lighting"


def test_red_image_names_red() -> None:
    reading = read_pixels(Image.new("RGB", (64, 64), (220, 20, 20)))
    assert reading.colours[0] == "red"
    assert reading.saturation_words == "vivid saturated colours"


def test_two_colours_are_both_named() -> None:
    image = Image.new("RGB", (64, 64), (20, 40, 220))
    image.paste((30, 200, 40), (0, 0, 64, 24))
    assert set(read_pixels(image).colours) == {"blue", "green"}


def test_grey_image_reads_muted() -> None:
    reading = read_pixels(Image.new("RGB", (64, 64), (120, 128, 124)))
    assert reading.saturation_words == "monochrome"
    assert reading.colours == ("grey",)


@pytest.mark.parametrize(
    ("size", "words"),
    [((40, 80), "portrait composition"), ((80, 40), "landscape composition"), ((64, 64), "square composition")],
)
def test_aspect_reads_composition(size: tuple[int, int], words: str) -> None:
    assert words in read_pixels(Image.new("RGB", size, (90, 90, 90))).composition


def test_edges_read_detailed_or_minimalist() -> None:
    flat = read_pixels(Image.new("RGB", (64, 64), (90, 120, 90)))
    busy = read_pixels(Image.effect_noise((64, 64), 120).convert("RGB"))
    assert flat.detail_words == "minimalist"
    assert busy.detail_words == "intricately detailed"
    assert busy.contrast_words == "dramatic high contrast"
    assert flat.contrast_words == "flat low contrast"


# ---------------------------------------------------------------- describe


def test_describe_gives_distinct_deterministic_candidates(captioner: BlipCaptioner) -> None:
    first = describe(_scene(), captioner, count=8)
    assert len(first) == 8
    assert all(isinstance(c, str) and c.strip() for c in first)
    assert len({c.lower() for c in first}) == 8
    assert describe(_scene(), captioner, count=8) == first
    assert describe(_scene(), captioner, count=4) == first[:4]


def test_describe_readings_follow_the_pixels(captioner: BlipCaptioner) -> None:
    dark_tall = Image.new("RGB", (48, 96), (10, 8, 12))
    candidates = describe(dark_tall, captioner, count=4)
    assert "low-key lighting" in candidates[3]
    assert "portrait composition" in candidates[3]
    red = describe(Image.new("RGB", (64, 64), (220, 20, 20)), captioner, count=5)
    assert "red" in red[4]
    assert "vivid" in red[2]


class _ConstantCaptioner:
    """A captioner that always says the same thing, to force collisions between readings."""

    def caption(self, image: Image.Image, detail: str = "short") -> str:
        return ""


def test_describe_stays_distinct_when_captions_collide() -> None:
    candidates = describe(Image.new("RGB", (32, 32), (128, 128, 128)), _ConstantCaptioner(), count=8)
    assert len(set(candidates)) == 8
    assert all(c.strip() for c in candidates)


@pytest.mark.parametrize("count", [0, 9, -1])
def test_describe_count_bounds(captioner: BlipCaptioner, count: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 8"):
        describe(_scene(), captioner, count=count)


def test_describe_one_candidate(captioner: BlipCaptioner) -> None:
    assert describe(_scene(), captioner, count=1) == [captioner.caption(_scene(), "short")]
