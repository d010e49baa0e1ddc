"""Tiny SD 1.5, SDXL and FLUX.1 pipelines with random weights, built offline from config under fixed seeds.

They exist so that every code path (txt2img, img2img, inpaint, LoRA) runs on a CPU in seconds with
no download. Their images are noise. Built once, they are saved as a diffusers folder in safetensors
and later loaded through the same folder loader as any real model. The FLUX.1 recipes live in
engine/tiny_flux.py.

`tiny-world` is the exception: a small SD 1.5-family model *trained* on a toy world of coloured shapes, whose
weights are committed in engine/tiny/world/weights (scripts/build_tiny_world.py made them), so its images
follow the prompt.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import ModelUnavailable

log = logging.getLogger(__name__)

TINY_MODELS: dict[str, str] = {
    "tiny-sd": "sd15",
    "tiny-sdxl": "sdxl",
    "tiny-flux": "flux",
    "tiny-flux-kontext": "flux",
    "tiny-world": "sd15",
    "tiny-flux2": "flux2",
    "tiny-zimage": "zimage",
    "tiny-qwen": "qwen",
}
TRAINED = "tiny-world"  # shipped with trained weights rather than built from a recipe
# Bump when a recipe changes, so that stale cached folders are rebuilt. RECIPE_VERSION covers the SD recipes;
# a model listed in _RECIPE_VERSIONS has its own, so that changing one recipe leaves the other folders valid.
RECIPE_VERSION = "1"
_RECIPE_VERSIONS: dict[str, str] = {
    "tiny-flux": "flux-1",
    "tiny-flux-kontext": "flux-1",
    "tiny-flux2": "flux2-1",
    "tiny-zimage": "zimage-1",
    "tiny-qwen": "qwen-1",
}
_MARKER = ".tiny-recipe"
_HIDDEN = 32
_SEED = 1234


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (printable Latin-1 maps to itself)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = 0
    chars = []
    for byte in range(256):
        if byte in keep:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_byte_tokenizer(folder: Path) -> Path:
    """Write a CLIP tokenizer whose vocabulary is one token per byte-level character (no merges)."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder


def clip_tokenizer(folder: Path) -> Any:
    """The byte-level CLIP tokenizer written to `folder` (see write_byte_tokenizer)."""
    from transformers import CLIPTokenizer

    write_byte_tokenizer(folder)
    # Without model_max_length the pipeline overflows when it pads to the tokenizer's "infinite" length.
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def clip_text_encoder(tokenizer: Any, *, with_projection: bool, seed: int) -> Any:
    """A 2-layer CLIP text encoder of width 32 (also its projection width) with seeded random weights."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        hidden_size=_HIDDEN,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=_HIDDEN,
    )
    torch.manual_seed(seed)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(config).eval()


def _vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        force_upcast=False,  # fp32 on the CPU already; upcasting would only log warnings
    ).eval()


def _unet(seed: int, *, xl: bool) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    common: dict[str, Any] = {
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "sample_size": 16,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8,
    }
    if xl:
        common |= {
            "cross_attention_dim": 2 * _HIDDEN,
            "attention_head_dim": (2, 4),
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 8,
            # 6 micro-conditioning numbers (sizes, crop, target) plus the pooled text embedding.
            "projection_class_embeddings_input_dim": 6 * 8 + _HIDDEN,
        }
    else:
        common |= {"cross_attention_dim": _HIDDEN}
    torch.manual_seed(seed)
    return UNet2DConditionModel(**common).eval()


_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}


def _tiny_sd15(name: str, work_dir: Path) -> Any:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    tokenizer = clip_tokenizer(work_dir / "byte-tokenizer")
    return StableDiffusionPipeline(
        vae=_vae(_SEED + 1),
        text_encoder=clip_text_encoder(tokenizer, with_projection=False, seed=_SEED + 2),
        tokenizer=tokenizer,
        unet=_unet(_SEED + 3, xl=False),
        scheduler=DDIMScheduler(clip_sample=False, set_alpha_to_one=False, **_SCHEDULE),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _tiny_sdxl(name: str, work_dir: Path) -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    tokenizer = clip_tokenizer(work_dir / "byte-tokenizer")
    return StableDiffusionXLPipeline(
        vae=_vae(_SEED + 1),
        text_encoder=clip_text_encoder(tokenizer, with_projection=False, seed=_SEED + 2),
        text_encoder_2=clip_text_encoder(tokenizer, with_projection=True, seed=_SEED + 4),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=_unet(_SEED + 3, xl=True),
        scheduler=EulerDiscreteScheduler(**_SCHEDULE),
    )


def _tiny_flux(name: str, work_dir: Path) -> Any:
    from engine.tiny.flux import build_tiny_flux_pipeline

    return build_tiny_flux_pipeline(name, work_dir)


def _tiny_flux2(name: str, work_dir: Path) -> Any:
    from engine.tiny.flux2 import build_tiny_flux2_pipeline

    return build_tiny_flux2_pipeline(work_dir)


def _tiny_zimage(name: str, work_dir: Path) -> Any:
    from engine.tiny.zimage import build_tiny_zimage_pipeline

    return build_tiny_zimage_pipeline(name, work_dir)


def _tiny_qwen(name: str, work_dir: Path) -> Any:
    from engine.tiny.qwen import build_tiny_qwen_pipeline

    return build_tiny_qwen_pipeline(work_dir)


# The recipe that builds a tiny model of each family, keyed as TINY_MODELS names them.
_BUILDERS: dict[str, Callable[[str, Path], Any]] = {
    "sd15": _tiny_sd15, "sdxl": _tiny_sdxl, "flux": _tiny_flux, "flux2": _tiny_flux2, "zimage": _tiny_zimage,
    "qwen": _tiny_qwen,
}  # fmt: skip


def build_tiny_pipeline(name: str, work_dir: Path) -> Any:
    """Build the tiny pipeline `name` in memory; `work_dir` receives the tokenizer files."""
    if name not in TINY_MODELS:
        raise ModelUnavailable(f"Unknown built-in model '{name}'. Built-in models: {', '.join(TINY_MODELS)}.")
    if name == TRAINED:
        raise ModelUnavailable(f"'{name}' has trained weights, not a recipe: load engine/tiny/world/weights.")
    return _BUILDERS[TINY_MODELS[name]](name, work_dir)


def ensure_tiny_folder(name: str, cache_dir: Path | str) -> Path:
    """Return the diffusers folder of tiny model `name` under `cache_dir`, building it on first use.

    The trained `tiny-world` is not built: its committed folder is returned as it is."""
    if name == TRAINED:
        from engine.tiny.world import WEIGHTS_DIR

        return WEIGHTS_DIR
    cache_dir = Path(cache_dir)
    target = cache_dir / name
    marker = target / _MARKER
    version = _RECIPE_VERSIONS.get(name, RECIPE_VERSION)
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == version:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("Building built-in test model %s under %s", name, target)
    # Build in a temporary sibling and swap it in, so that an interrupted build never leaves half a folder.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        pipe = build_tiny_pipeline(name, tmp)
        pipe.save_pretrained(tmp / "model", safe_serialization=True)
        (tmp / "model" / _MARKER).write_text(version, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        (tmp / "model").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
