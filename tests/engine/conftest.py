"""Shared tiny pipelines and LoRA files: built once per test session, since building costs seconds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.catalog import ModelSpec, get_preset
from engine.diffusion.loading import load_folder
from engine.diffusion.lora import save_lora_diffusers, save_lora_kohya
from engine.diffusion.pipelines import PipelineManager
from engine.tiny.models import TINY_MODELS, ensure_tiny_folder

STEPS = 2

# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine OpenMP workers that wait on
# each other make each call several times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    for name in TINY_MODELS:
        ensure_tiny_folder(name, cache / "builtin")
    return cache


@pytest.fixture(scope="session")
def manager(tiny_cache: Path) -> PipelineManager:
    return PipelineManager("cpu", cache_dir=tiny_cache, max_models=2)


@pytest.fixture(scope="session")
def sd_spec() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-sd"))


@pytest.fixture(scope="session")
def sdxl_spec() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-sdxl"))


def random_lora(folder: Path, family: str, seed: int, rank: int = 4) -> dict[str, torch.Tensor]:
    """A peft state dict for the tiny UNet whose weights are random (not a no-op), made on a separate copy."""
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = load_folder(folder, family)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=["to_k", "to_q", "to_v", "to_out.0"]
    )
    pipe.unet.add_adapter(config)
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(pipe.unet).items()}


def random_flux_lora(tiny_cache: Path, seed: int) -> dict[str, torch.Tensor]:
    """A random (not a no-op) LoRA on the tiny FLUX transformer's attention, as peft names it."""
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = load_folder(tiny_cache / "builtin" / "tiny-flux", "flux")
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v"])
    pipe.transformer.add_adapter(config)
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(pipe.transformer).items()}


@pytest.fixture(scope="session")
def flux_lora_file(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One random tiny-flux LoRA (seed 11) in the diffusers layout, written once for the session."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("flux-lora") / "style.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in random_flux_lora(tiny_cache, seed=11).items()}, str(path))
    return path


@pytest.fixture
def traced_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """STUDIO_OPTIMIZE's compile step runs here as on a GPU, traced by dynamo and AOT autograd (no C++ compiler)."""
    from engine.diffusion import optimize

    real = optimize.compile_denoiser
    monkeypatch.setattr(optimize, "_compiles_on", lambda device: True)
    monkeypatch.setattr(optimize, "compile_denoiser", lambda base, family: real(base, family, backend="aot_eager"))
    torch._dynamo.reset()  # each test traces its own model


@dataclass(frozen=True)
class LoraFiles:
    a_diffusers: Path
    a_kohya: Path
    b_diffusers: Path
    sdxl: Path


@pytest.fixture(scope="session")
def lora_files(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> LoraFiles:
    out = tmp_path_factory.mktemp("loras")
    sd_folder = tiny_cache / "builtin" / "tiny-sd"
    a = random_lora(sd_folder, "sd15", seed=1)
    b = random_lora(sd_folder, "sd15", seed=2)
    xl = random_lora(tiny_cache / "builtin" / "tiny-sdxl", "sdxl", seed=3)
    return LoraFiles(
        a_diffusers=save_lora_diffusers(out / "a.safetensors", "sd15", a),
        a_kohya=save_lora_kohya(out / "a_kohya.safetensors", a),
        b_diffusers=save_lora_diffusers(out / "b.safetensors", "sd15", b),
        sdxl=save_lora_diffusers(out / "xl.safetensors", "sdxl", xl),
    )


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def max_diff(a, b) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())
