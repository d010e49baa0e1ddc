"""Image captioning and /describe: a captioner behind a small interface, plus readings from pixels.

Captioners (BLIP, Florence-2, a tiny random BLIP for tests) are called from the GPU worker thread only:
their tokenizers are not safe to share between threads.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image, ImageFilter

from engine.prompts import clean_caption

log = logging.getLogger(__name__)

Detail = Literal["short", "detailed"]
MAX_CANDIDATES = 8


class CaptionerUnavailable(RuntimeError):
    """The captioner's weights cannot be found locally; the message says how to provide them."""


@runtime_checkable
class Captioner(Protocol):
    """Anything that turns an RGB image into one caption."""

    def caption(self, image: Image.Image, detail: Detail = "short") -> str: ...


def _load_error(model_name: str, source: str | Path, exc: Exception) -> CaptionerUnavailable:
    text = str(source)
    local = isinstance(source, Path) or text.startswith(("/", ".", "~")) or Path(text).exists()
    how = (
        "Check that this folder holds the model's config, processor files and .safetensors weights."
        if local
        else f"Download it once where there is internet (`hf download {text}`) so it sits in the Hugging Face "
        "cache, or point the setting at a local folder with its config, processor files and .safetensors weights."
    )
    return CaptionerUnavailable(f"The {model_name} captioner could not be loaded from '{text}'. {how}")


def _check_detail(detail: str) -> None:
    if detail not in ("short", "detailed"):
        raise ValueError(f"detail must be 'short' or 'detailed', not {detail!r}")


class BlipCaptioner:
    """BLIP image captioning (e.g. Salesforce/blip-image-captioning-base or -large)."""

    # BLIP continues a text prefix; a longer prefix and beam search give the "detailed" reading.
    detailed_prefix = "a detailed picture of"

    def __init__(
        self,
        model,
        processor,
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

        try:
            processor = BlipProcessor.from_pretrained(str(source), local_files_only=offline)
            model = BlipForConditionalGeneration.from_pretrained(
                str(source), use_safetensors=True, local_files_only=offline, dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise _load_error("BLIP", source, exc) from exc
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
        model,
        processor,
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

        try:
            processor = AutoProcessor.from_pretrained(str(source), local_files_only=offline)
            model = Florence2ForConditionalGeneration.from_pretrained(
                str(source), use_safetensors=True, local_files_only=offline, dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise _load_error("Florence-2", source, exc) from exc
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


def _to_device(inputs, device: torch.device, dtype: torch.dtype) -> dict:
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


# ---------------------------------------------------------------- readings from pixels

_ANALYSIS_SIDE = 128


@dataclass(frozen=True)
class PixelReading:
    """What the pixels alone say about an image (values in 0..1 unless noted)."""

    width: int
    height: int
    brightness: float
    contrast: float
    saturation: float
    edge_density: float
    colours: tuple[str, ...]  # dominant colour names, most common first

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def lighting(self) -> str:
        if self.brightness < 0.3:
            return "low-key lighting"
        if self.brightness < 0.45:
            return "dim moody lighting"
        if self.brightness > 0.72:
            return "bright high-key lighting"
        if self.brightness > 0.58:
            return "soft bright lighting"
        return "balanced natural lighting"

    @property
    def contrast_words(self) -> str:
        if self.contrast < 0.08:
            return "flat low contrast"
        if self.contrast > 0.28:
            return "dramatic high contrast"
        return "moderate contrast"

    @property
    def saturation_words(self) -> str:
        if self.saturation < 0.08:
            return "monochrome"
        if self.saturation < 0.25:
            return "muted colours"
        if self.saturation > 0.55:
            return "vivid saturated colours"
        return "natural colours"

    @property
    def composition(self) -> str:
        if self.aspect > 2.0:
            return "panoramic landscape composition"
        if self.aspect > 1.15:
            return "landscape composition"
        if self.aspect < 0.5:
            return "tall vertical portrait composition"
        if self.aspect < 0.87:
            return "portrait composition"
        return "square composition"

    @property
    def detail_words(self) -> str:
        if self.edge_density < 0.03:
            return "minimalist"
        if self.edge_density > 0.18:
            return "intricately detailed"
        return "detailed"

    @property
    def medium(self) -> str:
        """A guess at style and medium from colour count, saturation and texture."""
        if self.saturation < 0.08:
            return "black and white photograph" if self.edge_density > 0.03 else "monochrome minimalist print"
        if self.edge_density < 0.03:
            return "flat vector illustration" if self.saturation > 0.4 else "minimalist colour-field artwork"
        if self.saturation > 0.55 and self.edge_density > 0.18:
            return "vibrant digital painting"
        if self.saturation < 0.25:
            return "soft film photograph"
        return "photograph"

    @property
    def mood(self) -> str:
        bright, vivid = self.brightness > 0.55, self.saturation > 0.4
        if bright and vivid:
            return "cheerful energetic mood"
        if bright:
            return "calm airy mood"
        if self.brightness < 0.35 and not vivid:
            return "dark brooding atmosphere"
        if vivid:
            return "intense dramatic mood"
        return "quiet contemplative mood"

    @property
    def palette(self) -> str:
        names = list(self.colours) or ["neutral"]
        if len(names) == 1:
            return f"{names[0]} colour palette"
        return f"{', '.join(names[:-1])} and {names[-1]} colour palette"


def _colour_name(hue: float, sat: float, val: float) -> str:
    if val < 0.18:
        return "black"
    if sat < 0.18:
        if val > 0.85:
            return "white"
        return "grey" if val > 0.35 else "charcoal"
    degrees = hue * 360
    if degrees < 15 or degrees >= 345:
        return "red" if val > 0.45 else "maroon"
    if degrees < 45:
        return "orange" if val > 0.65 else "brown"
    if degrees < 70:
        return "yellow" if val > 0.5 else "olive"
    if degrees < 160:
        return "green"
    if degrees < 200:
        return "teal"
    if degrees < 255:
        return "blue"
    if degrees < 290:
        return "purple"
    return "pink" if val > 0.5 else "magenta"


def read_pixels(image: Image.Image) -> PixelReading:
    """Measure brightness, contrast, saturation, edge density and dominant colours."""
    rgb = image.convert("RGB")
    small = rgb.copy()
    small.thumbnail((_ANALYSIS_SIDE, _ANALYSIS_SIDE), Image.Resampling.BILINEAR)
    grey = np.asarray(small.convert("L"), dtype=np.float32) / 255.0
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    edges = np.asarray(small.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32)
    # FIND_EDGES marks the 1-pixel border of the image as an edge; leave the border out.
    inner = edges[1:-1, 1:-1] if min(edges.shape) > 2 else edges
    edge_density = float((inner > 40).mean()) if inner.size else 0.0

    # Name colours on a coarse grid of quantised HSV cells so the count is cheap and stable.
    cells = np.floor(hsv * np.array([24, 8, 8], dtype=np.float32)).astype(np.int32).reshape(-1, 3)
    cells = np.minimum(cells, [23, 7, 7])
    keys, counts = np.unique(cells, axis=0, return_counts=True)
    totals: dict[str, int] = {}
    for (h, s, v), n in zip(keys.tolist(), counts.tolist(), strict=True):
        name = _colour_name((h + 0.5) / 24, (s + 0.5) / 8, (v + 0.5) / 8)
        totals[name] = totals.get(name, 0) + n
    pixels = cells.shape[0]
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    colours = tuple(name for name, n in ranked if n / pixels >= 0.08)[:3] or (ranked[0][0],)
    return PixelReading(
        width=rgb.width,
        height=rgb.height,
        brightness=float(grey.mean()),
        contrast=float(grey.std()),
        saturation=float(hsv[..., 1].mean()),
        edge_density=edge_density,
        colours=colours,
    )


# ---------------------------------------------------------------- /describe


def describe(image: Image.Image, captioner: Captioner, count: int = 4) -> list[str]:
    """Return `count` (1-8) distinct candidate prompts for an image, deterministic for the same image.

    In order: a short caption, a detailed caption, a style-and-medium reading, a composition-and-lighting
    reading, then colour palette, mood, a full combined prompt and a compact tag list.
    """
    if not 1 <= count <= MAX_CANDIDATES:
        raise ValueError(f"count must be between 1 and {MAX_CANDIDATES}, not {count}")
    image = image.convert("RGB")
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
