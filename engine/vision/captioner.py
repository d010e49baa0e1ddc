"""Image captioning and /describe: a captioner behind a small interface; the pixels' readings are in pixel_reading.

Captioners (BLIP, Florence-2, a tiny random BLIP for tests) are called from the GPU worker thread only:
their tokenizers are not safe to share between threads.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from PIL import Image

from engine.prompting.text import clean_caption
from engine.vision.catalog import pretrained
from engine.vision.pixel_reading import read_pixels

log = logging.getLogger(__name__)

Detail = Literal["short", "detailed"]
MAX_CANDIDATES = 8


class CaptionerUnavailable(RuntimeError):
    """The captioner's weights cannot be found locally; the message says how to provide them."""


@runtime_checkable
class Captioner(Protocol):
    """Anything that turns an RGB image into one caption."""

    def caption(self, image: Image.Image, detail: Detail = "short") -> str: ...


@runtime_checkable
class CandidateCaptioner(Captioner, Protocol):
    """A captioner that writes /describe's candidates itself (a world's captioner: its own grammar, no extras)."""

    def candidates(self, image: Image.Image, count: int) -> list[str]: ...


def _check_detail(detail: str) -> None:
    if detail not in ("short", "detailed"):
        raise ValueError(f"detail must be 'short' or 'detailed', not {detail!r}")


class BlipCaptioner:
    """BLIP image captioning (e.g. Salesforce/blip-image-captioning-base or -large)."""

    # BLIP continues a text prefix; a longer prefix and beam search give the "detailed" reading.
    detailed_prefix = "a detailed picture of"

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        device: str | torch.device = "cpu",
        max_new_tokens: int = 40,
        detailed_beams: int = 3,
    ) -> None:
        self.detailed_beams = detailed_beams
        self.model = model.eval()
        self.processor = processor
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        offline: bool = True,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
    ) -> BlipCaptioner:
        """Load from a local folder or a hub id already in the cache (safetensors only)."""
        from transformers import BlipForConditionalGeneration, BlipProcessor

        processor, model = pretrained(
            source,
            BlipProcessor,
            BlipForConditionalGeneration,
            offline=offline,
            unavailable=CaptionerUnavailable,
            what="BLIP captioner",
            dtype=dtype,
        )
        return cls(model.to(device), processor, device=device)

    @torch.inference_mode()
    def caption(self, image: Image.Image, detail: Detail = "short") -> str:
        _check_detail(detail)
        image = image.convert("RGB")
        if detail == "short":
            inputs = self.processor(images=image, return_tensors="pt")
            gen = {"max_new_tokens": min(20, self.max_new_tokens), "num_beams": 1, "do_sample": False}
        else:
            inputs = self.processor(images=image, text=self.detailed_prefix, return_tensors="pt")
            gen = {"max_new_tokens": self.max_new_tokens, "num_beams": self.detailed_beams, "do_sample": False}
        inputs = _to_device(inputs, self.device, self.model.dtype)
        output = self.model.generate(**inputs, **gen)
        text = self.processor.batch_decode(output, skip_special_tokens=True)[0]
        if detail == "detailed":
            text = _strip_prefix(text, self.detailed_prefix)
        return clean_caption(text)


class Florence2Captioner:
    """Florence-2 captioning (e.g. microsoft/Florence-2-base), native in transformers 5.x."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        device: str | torch.device = "cpu",
        max_new_tokens: int = 128,
        num_beams: int = 3,
        detailed_task: str = "<MORE_DETAILED_CAPTION>",
    ) -> None:
        if detailed_task not in ("<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>"):
            raise ValueError("detailed_task must be <DETAILED_CAPTION> or <MORE_DETAILED_CAPTION>")
        self.task_prompts = {"short": "<CAPTION>", "detailed": detailed_task}
        self.model = model.eval()
        self.processor = processor
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        offline: bool = True,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        detailed_task: str = "<MORE_DETAILED_CAPTION>",
    ) -> Florence2Captioner:
        """Load from a local folder or a hub id already in the cache (safetensors only)."""
        from transformers import AutoProcessor, Florence2ForConditionalGeneration

        processor, model = pretrained(
            source,
            AutoProcessor,
            Florence2ForConditionalGeneration,
            offline=offline,
            unavailable=CaptionerUnavailable,
            what="Florence-2 captioner",
            dtype=dtype,
        )
        return cls(model.to(device), processor, device=device, detailed_task=detailed_task)

    @torch.inference_mode()
    def caption(self, image: Image.Image, detail: Detail = "short") -> str:
        _check_detail(detail)
        task = self.task_prompts[detail]
        inputs = self.processor(text=task, images=image.convert("RGB"), return_tensors="pt")
        inputs = _to_device(inputs, self.device, self.model.dtype)
        output = self.model.generate(
            **inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
        )
        return clean_caption(self.processor.batch_decode(output, skip_special_tokens=True)[0])


def _to_device(inputs: Mapping[str, Any], device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    moved = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, dtype=dtype) if value.is_floating_point() else value.to(device)
        moved[key] = value
    return moved


def _strip_prefix(text: str, prefix: str) -> str:
    stripped = text.strip()
    return stripped[len(prefix) :].strip() if stripped.lower().startswith(prefix.lower()) else stripped


# Word list of the tiny test captioner: enough for word salad that looks like a caption.
_TINY_WORDS = (  # split when the vocabulary is written
    "a an the of in on with and at by near under over is are "
    "cat dog bird horse person woman man child tree flower house car boat sky sea mountain road city room table "
    "red orange yellow green blue purple pink brown black white grey "
    "big small old young bright dark sunny cloudy painting photo picture drawing sitting standing"
)


def tiny_captioner(seed: int = 0) -> BlipCaptioner:
    """A BLIP captioner built from config with random weights: fast, offline, captions are word salad."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

    try:
        from transformers import BlipImageProcessorPil as ImageProcessor  # without torchvision
    except ImportError:  # pragma: no cover - older or torchvision-backed layouts
        from transformers import BlipImageProcessor as ImageProcessor

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_TINY_WORDS.split()]
    with tempfile.TemporaryDirectory(prefix="tiny-captioner-") as folder:
        (Path(folder) / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = BertTokenizer.from_pretrained(folder)
    image_processor = ImageProcessor(size={"height": 32, "width": 32})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = BlipConfig(
        text_config={
            **small,
            "vocab_size": len(vocab),
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "eos_token_id": tokenizer.sep_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=32,
        image_text_hidden_size=32,
    )
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config)
    return BlipCaptioner(model, processor, max_new_tokens=16, detailed_beams=1)


# ---------------------------------------------------------------- /describe


def describe(image: Image.Image, captioner: Captioner, count: int = 4) -> list[str]:
    """Return `count` (1-8) distinct candidate prompts for an image, deterministic for the same image.

    In order: a short caption, a detailed caption, a style-and-medium reading, a composition-and-lighting
    reading, then colour palette, mood, a full combined prompt and a compact tag list.
    """
    if not 1 <= count <= MAX_CANDIDATES:
        raise ValueError(f"count must be between 1 and {MAX_CANDIDATES}, not {count}")
    image = image.convert("RGB")
    if isinstance(captioner, CandidateCaptioner):
        return captioner.candidates(image, count)
    reading = read_pixels(image)
    short = clean_caption(captioner.caption(image, "short")) or "an image"
    detailed = clean_caption(captioner.caption(image, "detailed")) if count > 1 else short
    if not detailed or detailed.lower() == short.lower():
        detailed = f"{short}, {reading.detail_words}, {reading.saturation_words}"
    colours = ", ".join(reading.colours)

    candidates = [
        short,
        detailed,
        f"{short}, {reading.medium}, {reading.detail_words}, {reading.saturation_words}",
        f"{short}, {reading.composition}, {reading.lighting}, {reading.contrast_words}",
        f"{short}, {reading.palette}, {reading.saturation_words}",
        f"{short}, {reading.mood}, {reading.lighting}",
        f"{detailed}, {reading.medium}, {reading.composition}, {reading.lighting}, {reading.palette}",
        f"{short}, {colours}, {reading.medium}, {reading.composition}, {reading.mood}, {reading.contrast_words}",
    ]
    # Guarantee distinct strings even when readings coincide (e.g. an empty caption on a plain image).
    extras = [reading.lighting, reading.composition, reading.palette, reading.mood, reading.medium, "high quality"]
    result: list[str] = []
    seen: set[str] = set()
    for candidate in candidates[:count]:
        text = _tidy(candidate)
        suffix = 0
        while text.lower() in seen:
            text = _tidy(f"{text}, {extras[suffix % len(extras)]}") if suffix < len(extras) else f"{text} ({suffix})"
            suffix += 1
        seen.add(text.lower())
        result.append(text)
    return result


def _tidy(text: str) -> str:
    parts = [p.strip() for p in text.split(",")]
    return ", ".join(p for p in parts if p)[:400].rstrip(" ,")
