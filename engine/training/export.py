"""The trained LoRA as files other tools read: diffusers format, and kohya format for A1111 and ComfyUI.

Trainer notes §4: both files reload at the strength they trained at only if alpha travels with them (the
diffusers file in `lora_adapter_metadata`, the kohya file in its `*.alpha` tensors); the header carries the
`ss_*` keys A1111 reads (base model version, output name, tag frequency so the trigger word shows, hashes)
and the `modelspec.*` keys of the SAI spec, plus this studio's lineage under `studio.*`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save, save_file

from engine.families.registry import family_of
from engine.images.output import write_bytes
from engine.training.recipes import Recipe
from engine.training.text_lora import PREFIX as TE_PREFIX
from engine.training.text_lora import TE_TARGETS
from engine.training.types import TrainConfig, TrainItem
from engine.work import OutputFile


def _tensor_section_sha256(data: bytes) -> str:
    """sha256 of a safetensors file's bytes after its header: kohya's `sshs_model_hash`, A1111's addnet hash."""
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length :]).hexdigest()


def dataset_dir(output_name: str) -> str:
    """The training folder's name as kohya's `<repeats>_<name>` (one repeat): the key of both `ss_dataset_dirs` and
    `ss_tag_frequency`, which kohya takes from the same folder."""
    return f"1_{output_name}"


def tag_frequency(items: tuple[TrainItem, ...], output_name: str) -> dict[str, dict[str, int]]:
    """`ss_tag_frequency`: the comma-separated pieces of the captions, counted (A1111 builds its tag cloud from it)."""
    pieces = Counter(piece.strip() for item in items for piece in item.caption.split(",") if piece.strip())
    return {dataset_dir(output_name): dict(pieces)}


def metadata(
    recipe: Recipe,
    config: TrainConfig,
    items: tuple[TrainItem, ...],
    *,
    output_name: str,
    trigger_word: str | None,
    steps: int,
    base_name: str,
    started_at: float,
    lineage: Mapping[str, str],
    prediction_type: str = "epsilon",
) -> dict[str, str]:
    """The header keys every file of the run carries (all values are strings, as safetensors wants)."""
    now = time.time()
    resolution = (config.resolution, config.resolution)
    meta = {
        "ss_base_model_version": recipe.base_model_version,
        "ss_v2": "False",
        "ss_network_module": family_of(recipe.family).kohya_network_module,
        "ss_network_dim": str(config.rank),
        "ss_network_alpha": str(float(config.alpha)),
        "ss_output_name": output_name,
        "ss_training_started_at": str(started_at),
        "ss_training_finished_at": str(now),
        "ss_steps": str(steps),
        "ss_max_train_steps": str(config.steps),
        "ss_resolution": str(resolution),
        "ss_num_train_images": str(len(items)),
        "ss_batch_size_per_device": str(config.batch_size),
        "ss_gradient_accumulation_steps": str(config.grad_accum),
        "ss_learning_rate": str(config.learning_rate),
        "ss_unet_lr": str(config.learning_rate),
        "ss_text_encoder_lr": str(config.te_lr if config.train_text_encoder else 0),
        "ss_network_train_unet_only": str(not config.train_text_encoder),
        "ss_lr_scheduler": "constant_with_warmup",
        "ss_lr_warmup_steps": str(config.warmup),
        "ss_optimizer": config.optimizer,
        "ss_mixed_precision": config.mixed_precision,
        "ss_seed": str(config.seed),
        "ss_noise_offset": str(config.noise_offset),
        "ss_min_snr_gamma": str(config.min_snr_gamma),
        "ss_caption_dropout_rate": str(config.caption_dropout),
        "ss_sd_model_name": base_name,
        "ss_tag_frequency": json.dumps(tag_frequency(items, output_name)),
        "ss_dataset_dirs": json.dumps({dataset_dir(output_name): {"n_repeats": 1, "img_count": len(items)}}),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": recipe.architecture,
        "modelspec.implementation": "diffusers",
        "modelspec.title": output_name,
        "modelspec.resolution": f"{config.resolution}x{config.resolution}",
        "modelspec.date": datetime.fromtimestamp(int(now), tz=UTC).isoformat(),
        "modelspec.prediction_type": prediction_type,
    }
    if trigger_word:
        meta["modelspec.trigger_phrase"] = trigger_word
    meta.update({f"studio.{key}": value for key, value in lineage.items()})
    return meta


def _diffusers_key(key: str, prefix: str) -> str:
    """The denoiser's tensors under `unet.` (or `transformer.`); the text encoder's keep `text_encoder.`."""
    return key if key.startswith(TE_PREFIX) else f"{prefix}.{key}"


def _with_hashes(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, str]:
    """kohya's hashes, computed as kohya does: over the tensors serialised with the `ss_*` keys only."""
    in_memory = save(tensors, {k: v for k, v in meta.items() if k.startswith("ss_")})
    model_hash = _tensor_section_sha256(in_memory)
    legacy = hashlib.sha256(in_memory[0x100000:0x110000]).hexdigest()[:8]
    return meta | {
        "sshs_model_hash": model_hash,
        "sshs_legacy_hash": legacy,
        "modelspec.hash_sha256": f"0x{model_hash}",
    }


def _lora_config(config: TrainConfig, targets: tuple[str, ...]) -> dict[str, Any]:
    return {"r": config.rank, "lora_alpha": float(config.alpha), "target_modules": sorted(targets), "lora_dropout": 0.0}


def export_diffusers(
    path: Path,
    peft_state: Mapping[str, torch.Tensor],
    config: TrainConfig,
    targets: tuple[str, ...],
    meta: dict[str, str],
    prefix: str = "unet",
) -> OutputFile:
    """The diffusers layout in peft's key style (`unet.….lora_A.weight`), alpha in `lora_adapter_metadata`.

    `prefix` names the denoiser: `unet`, or `transformer` for FLUX.

    One key style for every layer: diffusers' own converter renames only attention layers, and a file that mixes
    styles loads its attention layers or not depending on which key comes first.
    """
    tensors = {_diffusers_key(k, prefix): v.detach().float().cpu().contiguous() for k, v in peft_state.items()}
    adapter = {f"{prefix}.{k}": v for k, v in _lora_config(config, targets).items()}
    if any(k.startswith(TE_PREFIX) for k in peft_state):
        adapter |= {f"text_encoder.{k}": v for k, v in _lora_config(config, TE_TARGETS).items()}
    header = _with_hashes(tensors, meta) | {
        "format": "pt",
        "lora_adapter_metadata": json.dumps(adapter, indent=2, sort_keys=True),
    }
    return OutputFile(path, *write_bytes(path, save(tensors, header)))


def export_kohya(
    path: Path, peft_state: Mapping[str, torch.Tensor], config: TrainConfig, meta: dict[str, str], family: str
) -> OutputFile:
    """The kohya layout (`lora_unet_…`, fp16, alpha tensors fixed to the trained alpha) for A1111 and ComfyUI."""
    from diffusers.utils import convert_state_dict_to_kohya

    kind = family_of(family)
    # `modelspec.implementation` as sd-scripts writes it: the code whose module names the keys follow.
    meta = meta | {"modelspec.implementation": kind.kohya_implementation}
    own = kind.kohya_keys(peft_state, float(config.alpha))
    if own is not None:  # a family with its own layout (FLUX's transformer blocks)
        return _write_kohya(path, own, meta)

    # kohya, A1111 and ComfyUI name text-encoder layers under `text_model.`, a level transformers 5 dropped, and
    # SD 1.5's one encoder `lora_te_` (trainer notes §0.4, §4.1).
    named = {
        (f"text_encoder.text_model.{k.removeprefix(TE_PREFIX)}" if k.startswith(TE_PREFIX) else f"unet.{k}"): v
        for k, v in peft_state.items()
    }
    kohya = {k.replace("lora_te1_", "lora_te_", 1): v for k, v in convert_state_dict_to_kohya(named).items()}
    alphas = {k: torch.tensor(float(config.alpha)) for k in kohya if k.endswith(".alpha")}
    return _write_kohya(path, kohya | alphas, meta)


def _write_kohya(path: Path, kohya: Mapping[str, torch.Tensor], meta: dict[str, str]) -> OutputFile:
    """Weights in fp16 (alphas as they are), with kohya's hashes in the header."""
    tensors = {
        k: v.float().reshape(()) if k.endswith(".alpha") else v.detach().to(torch.float16).cpu().contiguous()
        for k, v in kohya.items()
    }
    header = _with_hashes(tensors, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=header)
    data = path.read_bytes()
    return OutputFile(path, hashlib.sha256(data).hexdigest(), len(data))


def export_checkpoint(
    lora_file: Path, template: Path, folder: Path, name: str, step: int, config: TrainConfig, family: str
) -> tuple[OutputFile, OutputFile]:
    """A checkpoint's LoRA (peft tensors) as both files, with the run's header (`template`) at that step."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from engine.families.registry import denoiser_name
    from engine.training.recipes import recipe_for

    state = load_file(str(lora_file))
    with safe_open(str(template), "pt") as f:
        header = dict(f.metadata() or {})
    derived = ("sshs_", "modelspec.hash_sha256", "format", "lora_adapter_metadata")
    meta = {k: v for k, v in header.items() if not k.startswith(derived)} | {"ss_steps": str(step)}
    return (
        export_diffusers(
            folder / f"{name}.safetensors", state, config, recipe_for(family).targets, meta, denoiser_name(family)
        ),
        export_kohya(folder / f"{name}_kohya.safetensors", state, config, meta, family),
    )
