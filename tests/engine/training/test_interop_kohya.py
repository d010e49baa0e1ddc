"""Trained LoRAs as kohya's sd-scripts would write them: headers A1111, ComfyUI and Forge read; a short run's LR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from engine.host import EngineConfig, EngineHost
from engine.images.file_hashes import compute_digest
from engine.tasks import train
from engine.training.export import export_diffusers, export_kohya, metadata
from engine.training.recipes import recipe_for
from engine.training.types import TrainConfig, TrainItem
from engine.work import WorkOrder
from tests.engine.training_support import context, make_task, planted_images

_SD_KEY = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
_FLUX_KEYS = ("transformer_blocks.0.attn.to_q", "single_transformer_blocks.0.attn.to_k")


def _peft_state(modules: tuple[str, ...], rank: int = 4, width: int = 8) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    state = {}
    for module in modules:
        state[f"{module}.lora_A.weight"] = torch.randn(rank, width)
        state[f"{module}.lora_B.weight"] = torch.randn(width, rank)
    return state


def _header(path: Path) -> dict[str, str]:
    with safe_open(str(path), "pt") as f:
        return dict(f.metadata() or {})


def _export(tmp_path: Path, family: str, modules: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str], Path]:
    config = TrainConfig(steps=6, rank=4, alpha=4.0)
    items = (TrainItem(tmp_path / "0.png", "zzchar, red coat"), TrainItem(tmp_path / "1.png", "zzchar, blue hat"))
    meta = metadata(
        recipe_for(family),
        config,
        items,
        output_name="zzchar",
        trigger_word="zzchar",
        steps=6,
        base_name="base.safetensors",
        started_at=0.0,
        lineage={},
    )
    state = _peft_state(modules)
    prefix = "transformer" if family == "flux" else "unet"
    diffusers = export_diffusers(tmp_path / f"{family}.safetensors", state, config, ("to_q", "to_k"), meta, prefix)
    kohya = export_kohya(tmp_path / f"{family}_kohya.safetensors", state, config, meta, family)
    return _header(diffusers.path), _header(kohya.path), kohya.path


@pytest.mark.parametrize(
    ("family", "modules", "module", "implementation"),
    [
        ("sd15", (_SD_KEY,), "networks.lora", "diffusers"),
        ("flux", _FLUX_KEYS, "networks.lora_flux", "https://github.com/black-forest-labs/flux"),
    ],
)
def test_kohya_headers_name_the_network_module_and_implementation_of_the_family(
    tmp_path: Path, family: str, modules: tuple[str, ...], module: str, implementation: str
) -> None:
    diffusers, kohya, kohya_path = _export(tmp_path, family, modules)
    assert kohya["ss_network_module"] == diffusers["ss_network_module"] == module
    assert kohya["modelspec.implementation"] == implementation
    assert diffusers["modelspec.implementation"] == "diffusers"  # its keys are diffusers' module names
    for header in (diffusers, kohya):
        # kohya takes both from the one training folder: the same name in each.
        dirs, tags = json.loads(header["ss_dataset_dirs"]), json.loads(header["ss_tag_frequency"])
        assert list(dirs) == list(tags) == ["1_zzchar"]
        assert dirs["1_zzchar"] == {"n_repeats": 1, "img_count": 2}
        assert tags["1_zzchar"]["zzchar"] == 2
        assert header["ss_lr_warmup_steps"] == "0"
    # A1111 takes a LoRA's hash from `sshs_model_hash` when the header has one: it must be the file's own.
    assert compute_digest(kohya_path).lora_hash == kohya["sshs_model_hash"][:12]


def test_the_sdxl_kohya_file_names_stability_ai_as_its_implementation(tmp_path: Path) -> None:
    _, kohya, _ = _export(tmp_path, "sdxl", (_SD_KEY,))
    assert kohya["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"
    assert kohya["ss_network_module"] == "networks.lora"


@pytest.mark.parametrize(("steps", "configured", "used"), [(6, 10, 0), (50, 10, 5), (1000, 10, 10), (1000, 0, 0)])
def test_warmup_takes_at_most_a_tenth_of_the_run(steps: int, configured: int, used: int) -> None:
    assert TrainConfig(steps=steps, warmup_steps=configured).warmup == used


@pytest.mark.slow
def test_a_six_step_run_trains_every_step_at_its_full_learning_rate(manager, tmp_path: Path) -> None:
    host = EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: manager)
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set"), steps=6, warmup_steps=10, checkpoint_every=1)
    outcome = train.run(WorkOrder(7, "train", task), context()[0], host)
    assert outcome.steps_done == 6
    rates = []
    for step in range(1, 7):
        state = json.loads((tmp_path / "run" / f"ckpt-{step:06d}" / "state.json").read_text())
        rates.append(state["optimizer"]["param_groups"][0]["lr"])
    assert rates == [task.config.learning_rate] * 6
