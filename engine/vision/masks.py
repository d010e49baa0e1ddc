"""Inpainting masks: from an upload, from words (CLIPSeg), and a preview for the user.

Convention everywhere: a mask is a PIL 'L' image of the picture's size, 255 (white) where the picture
may change and 0 where it is kept.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image, ImageFilter

from engine.images.input import WIDE_MODES, ImageRejected, wide_to_l
from engine.vision.catalog import pretrained

log = logging.getLogger(__name__)

_BINARY_LEVEL = 128


class SegmenterUnavailable(RuntimeError):
    """The segmenter's weights cannot be found locally; the message says how to provide them."""


def binarize(mask: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """Any-mode mask → 'L' with values 0/255, resized to `size` when given."""
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        # Painted on a transparent layer: what is transparent is kept, so composite onto black.
        rgba = mask.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        canvas.alpha_composite(rgba)
        grey = canvas.convert("L")
    elif mask.mode in WIDE_MODES:
        grey = wide_to_l(mask)
    else:
        grey = mask.convert("L")
    if size is not None and grey.size != tuple(size):
        grey = grey.resize(tuple(size), Image.Resampling.BILINEAR)
    return grey.point(lambda v: 255 if v >= _BINARY_LEVEL else 0)


def mask_coverage(mask: Image.Image) -> float:
    """Fraction of the picture a binary mask marks for change (0..1)."""
    values = np.asarray(mask.convert("L"))
    return float((values >= _BINARY_LEVEL).mean()) if values.size else 0.0


def mask_from_upload(mask_image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A user's mask as a binary 'L' mask of `size`; white = change. An all-black mask is refused."""
    if mask_image.width <= 0 or mask_image.height <= 0:
        raise ImageRejected("The mask is empty. Upload a black image with white where the picture should change.")
    mask = binarize(mask_image, size)
    if mask.getextrema()[1] == 0:
        raise ImageRejected(
            "The mask is all black, so there is nothing to edit. "
            "Paint the areas to change in white and upload it again."
        )
    return mask


def overlay_mask(
    image: Image.Image, mask: Image.Image, *, colour: tuple[int, int, int] = (255, 0, 0), opacity: float = 0.5
) -> Image.Image:
    """The picture with the masked area tinted (red by default), for the user to check before editing."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError("opacity must be between 0 and 1")
    base = image.convert("RGB")
    alpha = binarize(mask, base.size).point(lambda v: round(v * opacity))
    tint = Image.new("RGB", base.size, colour)
    return Image.composite(tint, base, alpha)


@runtime_checkable
class TextSegmenter(Protocol):
    """Anything that turns (picture, words) into a binary mask of the picture's size."""

    def mask(self, image: Image.Image, text: str) -> Image.Image: ...


class ClipSegSegmenter:
    """Text-prompted masks with CLIPSeg (e.g. CIDAS/clipseg-rd64-refined)."""

    def __init__(
        self, model: Any, processor: Any, *, threshold: float = 0.4, dilate: int = 4, device: str | torch.device = "cpu"
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if dilate < 0:
            raise ValueError("dilate must be 0 or more pixels")
        self.model = model.eval()
        self.processor = processor
        self.threshold = threshold
        self.dilate = dilate
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(
        cls, source: str | Path, *, offline: bool = True, device: str | torch.device = "cpu", **options: Any
    ) -> ClipSegSegmenter:
        """Load from a local folder or a hub id already in the cache (safetensors only)."""
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        processor, model = pretrained(
            source,
            CLIPSegProcessor,
            CLIPSegForImageSegmentation,
            offline=offline,
            unavailable=SegmenterUnavailable,
            what="CLIPSeg segmenter",
            note="Uploading a mask works without it.",
        )
        return cls(model.to(device), processor, device=device, **options)

    @torch.inference_mode()
    def probabilities(self, image: Image.Image, text: str) -> torch.Tensor:
        """Per-pixel probability (H×W at the picture's size) that the pixel shows `text`."""
        words = " ".join(text.split())
        if not words:
            raise ValueError("describe what to mask in a few words")
        rgb = image.convert("RGB")
        inputs = self.processor(
            text=[words], images=[rgb], padding=True, truncation=True, max_length=77, return_tensors="pt"
        )
        inputs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        logits = self.model(**inputs).logits
        logits = logits.reshape(1, 1, *logits.shape[-2:]).float()
        # Upscale before thresholding so the edge follows the picture's resolution, not the model's grid.
        probs = torch.sigmoid(
            torch.nn.functional.interpolate(logits, size=(rgb.height, rgb.width), mode="bilinear", align_corners=False)
        )
        return probs[0, 0].cpu()

    def mask(self, image: Image.Image, text: str) -> Image.Image:
        probs = self.probabilities(image, text)
        binary = (probs.numpy() >= self.threshold).astype(np.uint8) * 255
        mask = Image.fromarray(binary, mode="L")
        if self.dilate:
            # Grow the mask a little so the edit blends past the object's outline.
            mask = mask.filter(ImageFilter.MaxFilter(2 * self.dilate + 1))
        log.debug("clipseg mask for %r covers %.1f%%", text, 100 * mask_coverage(mask))
        return mask


def write_byte_level_clip_vocab(folder: Path) -> None:
    """A CLIP tokenizer folder with one token per character (no merges): offline and tiny."""
    chars = [chr(i) for i in range(256)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def tiny_clipseg(seed: int = 0, **options: Any) -> ClipSegSegmenter:
    """A CLIPSeg segmenter built from config with random weights, for tests: masks are noise, but real shapes."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, CLIPTokenizer

    try:
        from transformers import ViTImageProcessorPil as ImageProcessor  # without torchvision
    except ImportError:  # pragma: no cover - older or torchvision-backed layouts
        from transformers import ViTImageProcessor as ImageProcessor

    with tempfile.TemporaryDirectory(prefix="tiny-clipseg-") as folder:
        write_byte_level_clip_vocab(Path(folder))
        tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    image_processor = ImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPSegConfig(
        text_config={
            **small,
            "vocab_size": 514,
            "max_position_embeddings": 77,
            "bos_token_id": 512,
            "eos_token_id": 513,
            "pad_token_id": 513,
        },
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=32,
        extract_layers=(0, 1),  # indices into the two vision layers
        reduce_dim=16,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=37,
    )
    torch.manual_seed(seed)
    model = CLIPSegForImageSegmentation(config)
    options.setdefault("threshold", 0.5)
    return ClipSegSegmenter(model, processor, **options)
