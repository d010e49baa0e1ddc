"""Inpainting masks: uploads, refusal, the tiny CLIPSeg segmenter and the preview overlay."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.images.input import ImageRejected
from engine.vision.masks import (
    ClipSegSegmenter,
    SegmenterUnavailable,
    TextSegmenter,
    binarize,
    mask_coverage,
    mask_from_upload,
    overlay_mask,
    tiny_clipseg,
)


def _values(image: Image.Image) -> set[int]:
    return set(np.unique(np.asarray(image)).tolist())


def _half_mask(mode: str, size=(20, 10)) -> Image.Image:
    """Right half white (change), left half black (keep), in the given mode."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 2, 0, size[0], size[1]))
    return mask.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "1", "P", "I", "F"])
def test_upload_any_mode_becomes_binary_at_target_size(mode: str) -> None:
    mask = mask_from_upload(_half_mask(mode), (40, 20))
    assert mask.mode == "L"
    assert mask.size == (40, 20)
    assert _values(mask) == {0, 255}
    assert mask.getpixel((5, 10)) == 0
    assert mask.getpixel((35, 10)) == 255


def test_sixteen_bit_mask_keeps_its_range() -> None:
    wide = Image.new("I;16", (8, 8), 0)
    wide.paste(65535, (4, 0, 8, 8))
    mask = mask_from_upload(wide, (8, 8))
    assert (mask.getpixel((1, 1)), mask.getpixel((6, 1))) == (0, 255)


def test_grey_levels_are_thresholded() -> None:
    grey = Image.new("L", (4, 1))
    grey.putdata([10, 127, 128, 250])
    assert list(binarize(grey).tobytes()) == [0, 0, 255, 255]


def test_transparent_layer_counts_as_keep() -> None:
    layer = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 3, 10))
    mask = mask_from_upload(layer, (10, 10))
    assert mask.getpixel((1, 5)) == 255
    assert mask.getpixel((8, 5)) == 0
    assert mask_coverage(mask) == pytest.approx(0.3)


def test_all_black_mask_is_refused() -> None:
    with pytest.raises(ImageRejected, match="nothing to edit"):
        mask_from_upload(Image.new("RGB", (16, 16), (0, 0, 0)), (16, 16))
    with pytest.raises(ImageRejected, match="nothing to edit"):
        mask_from_upload(Image.new("L", (16, 16), 100), (16, 16))  # dark grey is "keep"


def test_all_white_mask_is_allowed() -> None:
    mask = mask_from_upload(Image.new("RGB", (16, 16), (255, 255, 255)), (32, 24))
    assert mask.size == (32, 24)
    assert mask_coverage(mask) == 1.0


def test_overlay_tints_only_the_masked_area() -> None:
    image = Image.new("RGB", (20, 10), (0, 0, 255))
    preview = overlay_mask(image, _half_mask("L", (10, 5)))
    assert preview.size == image.size
    assert preview.mode == "RGB"
    assert preview.getpixel((2, 5)) == (0, 0, 255)
    r, g, b = preview.getpixel((17, 5))
    assert (r > 100, g, b < 255) == (True, 0, True)


def test_overlay_rejects_bad_opacity() -> None:
    with pytest.raises(ValueError, match="opacity"):
        overlay_mask(Image.new("RGB", (4, 4)), Image.new("L", (4, 4), 255), opacity=2)


@pytest.fixture(scope="module")
def segmenter() -> ClipSegSegmenter:
    return tiny_clipseg(seed=0)


def _picture() -> Image.Image:
    image = Image.new("RGB", (72, 48), (30, 120, 200))
    image.paste((220, 30, 30), (10, 10, 40, 40))
    return image


def test_tiny_segmenter_gives_a_binary_mask_of_the_picture_size(segmenter: ClipSegSegmenter) -> None:
    assert isinstance(segmenter, TextSegmenter)
    mask = segmenter.mask(_picture(), "the red square")
    assert mask.mode == "L"
    assert mask.size == (72, 48)
    assert _values(mask) <= {0, 255}
    assert segmenter.mask(_picture(), "the red square").tobytes() == mask.tobytes()


def test_threshold_and_dilation_change_the_mask(segmenter: ClipSegSegmenter) -> None:
    probs = segmenter.probabilities(_picture(), "sky")
    assert tuple(probs.shape) == (48, 72)
    middle = float(probs.median())
    loose = ClipSegSegmenter(segmenter.model, segmenter.processor, threshold=middle, dilate=0)
    grown = ClipSegSegmenter(segmenter.model, segmenter.processor, threshold=middle, dilate=3)
    base = loose.mask(_picture(), "sky")
    assert 0.3 < mask_coverage(base) < 0.7
    assert mask_coverage(grown.mask(_picture(), "sky")) > mask_coverage(base)
    strict = ClipSegSegmenter(segmenter.model, segmenter.processor, threshold=0.999, dilate=0)
    assert mask_coverage(strict.mask(_picture(), "sky")) < mask_coverage(base)


def test_empty_text_is_refused(segmenter: ClipSegSegmenter) -> None:
    with pytest.raises(ValueError, match="few words"):
        segmenter.mask(_picture(), "   ")


def test_long_text_is_truncated(segmenter: ClipSegSegmenter) -> None:
    assert segmenter.mask(_picture(), "red " * 100).size == (72, 48)


def test_missing_clipseg_weights_say_how_to_get_them() -> None:
    with pytest.raises(SegmenterUnavailable, match=r"CIDAS/clipseg-rd64-refined.*hf download"):
        ClipSegSegmenter.from_pretrained("CIDAS/clipseg-rd64-refined", offline=True)
