"""The catalog of helper models: captioners for /describe and /vary, segmenters for /edit regions, the
optional language model that rewrites /vary and /edit prompts, and the image embedder of training-set checks.

A setting names a catalog id (`blip-large`, `clipseg`, ...) or a local folder holding a model's config,
processor or tokenizer files and .safetensors weights; the folder's `config.json` says which architecture it
is. The rewriter setting may also be `none` (the default: the deterministic composer alone).
Loading happens on the GPU worker thread only.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from engine.errors import ModelUnavailable

if TYPE_CHECKING:
    from engine.vision.captioner import Captioner
    from engine.vision.embedder import ClipEmbedder, ImageEmbedder
    from engine.vision.masks import TextSegmenter
    from engine.vision.rewriter import LocalLMRewriter

T = TypeVar("T")
log = logging.getLogger(__name__)

VisionKind = Literal["captioner", "segmenter", "rewriter", "embedder"]
_SETTING = {k: f"STUDIO_{k.upper()}" for k in ("captioner", "segmenter", "rewriter", "embedder")}
# The built-in test model of each kind: random weights, nothing to download (named in missing-weights errors).
_TEST_MODEL = {"captioner": "tiny-blip", "segmenter": "tiny-clipseg", "rewriter": "tiny-lm", "embedder": "tiny-clip"}


def _unavailable(kind: str, name: str, exc: Exception) -> ModelUnavailable:
    return ModelUnavailable(
        f"{exc} (setting {_SETTING[kind]}={name}; {_SETTING[kind]}={_TEST_MODEL[kind]} selects the test model, "
        "which needs no weights)"
    )


REWRITER_OFF = "none"
# config.json `model_type` → architecture we know how to load.
_ARCHITECTURES = {"blip": "blip", "florence2": "florence2", "clipseg": "clipseg", "clip": "clip"}
_ARCHITECTURES["clip_vision_model"] = "clip"  # a CLIP checkpoint saved without its text tower
_WANTED = {"captioner": ("blip", "florence2"), "segmenter": ("clipseg",), "embedder": ("clip",)}  # per kind


@dataclass(frozen=True)
class VisionPreset:
    """One captioner, segmenter, rewriter or embedder the catalog knows."""

    id: str
    kind: VisionKind
    architecture: str  # blip | florence2 | clipseg | causal-lm | clip | tiny-world
    source: str  # hub id, local folder, or "builtin:<name>"
    display_name: str
    description: str
    is_test_model: bool = False


_TINY = "Test model with random weights, built offline in seconds: its output is noise."

_PRESETS: tuple[VisionPreset, ...] = (
    VisionPreset(
        "blip-large",
        "captioner",
        "blip",
        "Salesforce/blip-image-captioning-large",
        "BLIP large",
        "Good general captions, about 1.9 GB.",
    ),
    VisionPreset(
        "blip-base",
        "captioner",
        "blip",
        "Salesforce/blip-image-captioning-base",
        "BLIP base",
        "Smaller and faster BLIP, about 1 GB.",
    ),
    VisionPreset(
        "florence-2-base",
        "captioner",
        "florence2",
        "microsoft/Florence-2-base",
        "Florence-2 base",
        "Detailed captions, about 0.5 GB.",
    ),
    VisionPreset("tiny-blip", "captioner", "blip", "builtin:tiny-blip", "Tiny BLIP (test)", _TINY, is_test_model=True),
    VisionPreset(
        "tiny-world",
        "captioner",
        "tiny-world",
        "builtin:tiny-world",
        "Tiny World captioner",
        "Reads tiny-world images into the world's own prompts ('a red circle on a blue background'), 0.5 MB; "
        "always used for tiny-world images, whatever STUDIO_CAPTIONER says.",
    ),
    VisionPreset(
        "clipseg",
        "segmenter",
        "clipseg",
        "CIDAS/clipseg-rd64-refined",
        "CLIPSeg rd64 refined",
        "Masks from words for /edit region, about 0.6 GB.",
    ),
    VisionPreset(
        "tiny-clipseg", "segmenter", "clipseg", "builtin:tiny-clipseg", "Tiny CLIPSeg (test)", _TINY, is_test_model=True
    ),
    VisionPreset(
        "qwen2.5-0.5b-instruct",
        "rewriter",
        "causal-lm",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen2.5 0.5B Instruct",
        "Rewrites /vary and /edit prompts, about 1 GB.",
    ),
    VisionPreset(
        "smollm2-360m-instruct",
        "rewriter",
        "causal-lm",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "SmolLM2 360M Instruct",
        "Smaller prompt rewriter, about 0.7 GB.",
    ),
    VisionPreset("tiny-lm", "rewriter", "causal-lm", "builtin:tiny-lm", "Tiny LM (test)", _TINY, is_test_model=True),
    VisionPreset(
        "clip-vit-base-patch32",
        "embedder",
        "clip",
        "openai/clip-vit-base-patch32",
        "CLIP ViT-B/32",
        "Finds training images unlike the rest of the set, about 0.6 GB.",
    ),
    VisionPreset("tiny-clip", "embedder", "clip", "builtin:tiny-clip", "Tiny CLIP (test)", _TINY, is_test_model=True),
    VisionPreset(
        "tiny-world-eyes",
        "embedder",
        "tiny-world",
        "builtin:tiny-world-eyes",
        "Tiny World eyes",
        "Tells the toy world's characters apart (shapes and their colours, whatever the background), 0.7 MB; "
        "always used for tiny-world images, whatever STUDIO_EMBEDDER says.",
    ),
)
_BY_ID = {p.id: p for p in _PRESETS}
DEFAULTS: dict[VisionKind, str] = {
    "captioner": "blip-large",
    "segmenter": "clipseg",
    "rewriter": REWRITER_OFF,
    "embedder": "clip-vit-base-patch32",
}


# Base models whose images only their own captioner reads in words they know (preset id -> captioner id).
MODEL_CAPTIONERS = {"tiny-world": "tiny-world"}


def captioner_for(model: str | None, configured: str) -> str:
    """The captioner for images of base model `model` (a preset id): its own if it has one, else `configured`."""
    return MODEL_CAPTIONERS.get(model or "", configured)


def vision_presets(kind: VisionKind | None = None) -> tuple[VisionPreset, ...]:
    return tuple(p for p in _PRESETS if kind is None or p.kind == kind)


def resolve_vision(kind: VisionKind, name: str) -> VisionPreset:
    """A catalog id or a local model folder → the preset to load; a clear error for anything else."""
    name = (name or "").strip() or DEFAULTS[kind]
    if kind == "rewriter" and not rewriter_enabled(name):
        raise ModelUnavailable(f"{_SETTING[kind]}={REWRITER_OFF}: no rewriter is configured.")
    preset = _BY_ID.get(name)
    if preset is not None:
        if preset.kind != kind:
            raise ModelUnavailable(f"{_SETTING[kind]}: '{name}' is a {preset.kind}, not a {kind}.")
        return preset
    folder = Path(name).expanduser()
    known = ", ".join(p.id for p in vision_presets(kind))
    if kind == "rewriter":
        known = f"{REWRITER_OFF}, {known}"
    if not folder.is_dir():
        raise ModelUnavailable(
            f"{_SETTING[kind]}='{name}' is neither a catalog id ({known}) nor a local model folder. "
            "Pick an id, or point it at a folder with the model's config, processor files and .safetensors weights."
        )
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        model_type = ""
    if kind == "rewriter":
        return _local_language_model(folder, str(model_type))
    architecture = _ARCHITECTURES.get(str(model_type))
    wanted = _WANTED[kind]
    if architecture not in wanted:
        raise ModelUnavailable(
            f"{_SETTING[kind]}: the folder '{folder}' does not hold a {' or '.join(wanted)} model "
            f"(its config.json says model_type={model_type!r})."
        )
    return VisionPreset(str(folder), kind, architecture, str(folder), folder.name, f"Local {architecture} model.")


def rewriter_enabled(name: str | None) -> bool:
    """Whether the rewriter setting asks for a language model (empty or `none` means the composer alone)."""
    return (name or "").strip().lower() not in ("", REWRITER_OFF)


def _local_language_model(folder: Path, model_type: str) -> VisionPreset:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelUnavailable(
            f"{_SETTING['rewriter']}: the folder '{folder}' does not hold a causal language model "
            f"(its config.json says model_type={model_type!r})."
        )
    return VisionPreset(str(folder), "rewriter", "causal-lm", str(folder), folder.name, f"Local {model_type} model.")


def pretrained(
    source: str | Path,
    reader: Any,
    model_class: Any,
    *,
    offline: bool,
    unavailable: type[Exception],
    what: str,
    files: str = "processor files",
    note: str = "",
    **options: Any,
) -> tuple[Any, Any]:
    """A model's processor (or tokenizer: `reader`) and weights, from a local folder or a hub id (only from the
    cache when `offline`), .safetensors only. What cannot load raises `unavailable`, saying how to provide it."""
    try:
        processor = reader.from_pretrained(str(source), local_files_only=offline)
        model = model_class.from_pretrained(str(source), use_safetensors=True, local_files_only=offline, **options)
    except (OSError, ValueError) as exc:
        log.debug("loading the %s from %s failed: %s", what, source, exc)
        raise unavailable(" ".join(filter(None, (_missing(what, source, files), note)))) from exc
    return processor, model


def _missing(what: str, source: str | Path, files: str) -> str:
    text = str(source)
    local = isinstance(source, Path) or text.startswith(("/", ".", "~")) or Path(text).exists()
    how = (
        f"Check that this folder holds the model's config, {files} and .safetensors weights."
        if local
        else f"Download it once where there is internet (`hf download {text}`) so it sits in the Hugging Face "
        f"cache, or point the setting at a local folder with its config, {files} and .safetensors weights."
    )
    return f"The {what} could not be loaded from '{text}'. {how}"


def _load(
    kind: VisionKind,
    name: str,
    build: Callable[[VisionPreset, bool], T],
    unavailable: type[Exception],
    tiny: Callable[[], T],
    offline: bool,
) -> T:
    """The model of `kind` a setting names: the built-in test model, or from the local cache first (fast, no
    network), then from the hub when allowed and the cache lacks it."""
    from engine.diffusion.loading import hub_offline

    preset = resolve_vision(kind, name)
    if preset.source == f"builtin:{_TEST_MODEL[kind]}":
        return tiny()
    try:
        try:
            return build(preset, True)
        except unavailable:
            if offline or hub_offline():
                raise
        return build(preset, False)
    except unavailable as exc:
        raise _unavailable(kind, name, exc) from exc


def load_captioner(name: str, *, device: str = "cpu", offline: bool = True) -> Captioner:
    """Build the captioner a setting names (blocking: call it on the worker thread)."""
    from engine.vision.captioner import BlipCaptioner, CaptionerUnavailable, Florence2Captioner

    def build(preset: VisionPreset, off: bool) -> Captioner:
        if preset.architecture == "tiny-world":
            return _world_captioner()
        loader = BlipCaptioner if preset.architecture == "blip" else Florence2Captioner
        return loader.from_pretrained(preset.source, offline=off, device=device)

    captioner = _load("captioner", name, build, CaptionerUnavailable, _tiny_blip, offline)
    log.info("captioner %s loaded on %s", name, device)
    return captioner


def load_segmenter(name: str, *, device: str = "cpu", offline: bool = True) -> TextSegmenter:
    """Build the segmenter a setting names (blocking: call it on the worker thread)."""
    from engine.vision.masks import ClipSegSegmenter, SegmenterUnavailable

    def build(preset: VisionPreset, off: bool) -> TextSegmenter:
        return ClipSegSegmenter.from_pretrained(preset.source, offline=off, device=device)

    segmenter = _load("segmenter", name, build, SegmenterUnavailable, _tiny_clipseg, offline)
    log.info("segmenter %s loaded on %s", name, device)
    return segmenter


def load_rewriter(name: str, *, device: str = "cpu", offline: bool = True) -> LocalLMRewriter | None:
    """Build the prompt rewriter a setting names, or None for `none` (blocking: call it on the worker thread)."""
    if not rewriter_enabled(name):
        return None
    from engine.vision.rewriter import LocalLMRewriter, RewriterUnavailable

    def build(preset: VisionPreset, off: bool) -> LocalLMRewriter:
        return LocalLMRewriter.from_pretrained(preset.source, offline=off, device=device)

    rewriter = _load("rewriter", name, build, RewriterUnavailable, _tiny_lm, offline)
    log.info("prompt rewriter %s loaded on %s", name, device)
    return rewriter


# Base models whose images only their own embedder reads (preset id -> embedder id): consistency, likeness, the
# training-set outlier check and character-sheet identity of that model use it.
MODEL_EMBEDDERS = {"tiny-world": "tiny-world-eyes"}


def embedder_for(model: str | None, configured: str) -> str:
    """The embedder for images of base model `model` (a preset id): its own if it has one, else `configured`."""
    return MODEL_EMBEDDERS.get(model or "", configured)


def load_embedder(name: str, *, device: str = "cpu", offline: bool = True) -> ImageEmbedder:
    """Build the image embedder a setting names (blocking: call it on the worker thread)."""
    from engine.vision.embedder import ClipEmbedder, EmbedderUnavailable

    def build(preset: VisionPreset, off: bool) -> ImageEmbedder:
        if preset.architecture == "tiny-world":  # committed weights, in the repository: nothing to download
            from engine.tiny.world.eyes import TinyWorldEmbedder

            try:
                return TinyWorldEmbedder.from_folder(device=device, name=preset.id)
            except (OSError, ValueError, KeyError) as exc:
                raise EmbedderUnavailable(
                    f"The tiny-world eyes could not be loaded ({exc}): restore engine/tiny/world/eyes_weights from "
                    "git, or rebuild them with scripts/build_tiny_world_eyes.py."
                ) from exc
        return ClipEmbedder.from_pretrained(preset.source, offline=off, device=device, name=preset.id)

    embedder = _load("embedder", name, build, EmbedderUnavailable, _tiny_clip, offline)
    log.info("image embedder %s loaded on %s", name, device)
    return embedder


# The test models are pure functions of their seed: build each once per process (several seconds each).
@functools.cache
def _tiny_blip() -> Captioner:
    from engine.vision.captioner import tiny_captioner

    return tiny_captioner(0)


@functools.cache
def _world_captioner() -> Captioner:
    from engine.tiny.world.captioning import load_world_captioner

    return load_world_captioner()


@functools.cache
def _tiny_clipseg() -> TextSegmenter:
    from engine.vision.masks import tiny_clipseg

    return tiny_clipseg(0)


@functools.cache
def _tiny_lm() -> LocalLMRewriter:
    from engine.vision.rewriter import tiny_rewriter

    return tiny_rewriter(0)


@functools.cache
def _tiny_clip() -> ClipEmbedder:
    from engine.vision.embedder import tiny_clip_embedder

    return tiny_clip_embedder(0)
