"""A FLUX.1 LoRA trained on tiny-flux: flow matching lowers the loss, the LoRA loads, a stopped run resumes exactly,
and the kohya export carries BFL's fused layers that split back into the trained ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from engine.errors import Stopped
from engine.families.flux.kohya_keys import to_kohya
from engine.families.flux.training_recipe import pack, unpack
from engine.host import EngineConfig, EngineHost
from engine.tasks import train
from engine.training.data import prepare
from engine.training.recipes import recipe_for
from engine.types import GenerateRequest, LoraSpec
from engine.work import WorkOrder
from tests.engine.training_support import context, make_task, planted_images

pytestmark = pytest.mark.slow


@pytest.fixture
def host(manager) -> EngineHost:
    return EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: manager)


def _task(tmp_path: Path, **overrides):
    # As plan_training sets them for FLUX: no noise offset, no Min-SNR (test_autoconfig checks the plan).
    flow = {"noise_offset": 0.0, "min_snr_gamma": None} | overrides
    return make_task(tmp_path / "run", planted_images(tmp_path / "set"), "tiny-flux", **flow)


def _image(manager, spec, path: Path | None, scale: float = 1.0) -> np.ndarray:
    loras = (LoraSpec(path.stem, path, spec.family, scale),) if path else ()
    request = GenerateRequest(prompt="zzchar, a round figure", model=spec.name, count=1, seed=5, steps=2, loras=loras)
    return np.asarray(manager.generate(request, spec).images[0].image, dtype=np.float64) / 255


def _flow_loss(pipe, task, seed: int = 99, rounds: int = 4) -> float:
    """The flow-matching loss on the training images at fixed noise and σ, with the pipeline as it is."""
    recipe = recipe_for("flux", task.model.preset.max_sequence_length)
    device = pipe.transformer.device
    data = prepare(pipe, recipe, task.items, task.config.resolution, device)
    g = torch.Generator("cpu").manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for _ in range(rounds):
            for index in range(len(task.items)):
                x0 = recipe.latents(pipe, data.means[index][None])
                noise = torch.randn(x0.shape, generator=g)
                sigma = torch.rand(1, generator=g) * 0.8 + 0.1
                noisy = (1 - sigma) * x0 + sigma * noise
                cond = recipe.batch([data.texts[index]], [data.sizes[index]], device)
                pred = recipe.forward(pipe.transformer, noisy, sigma, cond)
                total += torch.nn.functional.mse_loss(pred, noise - x0).item()
    return total / (rounds * len(task.items))


def test_packing_round_trips() -> None:
    latents = torch.randn(2, 16, 6, 4)
    assert pack(latents).shape == (2, 6, 64)
    assert torch.equal(unpack(pack(latents), 6, 4), latents)


def test_a_flux_run_lowers_the_loss_and_its_lora_changes_the_images(host, manager, tmp_path) -> None:
    task = _task(tmp_path, steps=24, learning_rate=1e-2)
    spec = task.model
    pipe = manager.pipeline(spec)
    manager.loras(spec).activate([])
    before = _flow_loss(pipe, task)
    events = []
    ctx, _ = context(events)
    outcome = train.run(WorkOrder(7, "train", task), ctx, host)
    assert outcome.steps_done == 24 and [c.step for c in outcome.checkpoints] == [6, 12, 18, 24]
    assert "loss " in events[-1].detail
    assert "job_7" not in (getattr(pipe.transformer, "peft_config", None) or {})  # the adapter left with the run
    base = _image(manager, spec, None)
    manager.loras(spec).activate([LoraSpec("zzchar", outcome.lora.path, "flux", 1.0)])
    after = _flow_loss(pipe, task)
    manager.loras(spec).activate([])
    assert after < before * 0.95, (before, after)
    assert np.abs(_image(manager, spec, outcome.lora.path) - base).max() > 0.01
    np.testing.assert_array_equal(_image(manager, spec, outcome.lora.path, 0.0), base)
    with safe_open(str(outcome.lora.path), "pt") as f:
        meta = f.metadata()
        names = list(f.keys())  # a safetensors handle is not iterable
    assert all(k.startswith("transformer.") for k in names)
    assert meta["modelspec.architecture"] == "flux-1-dev/lora" and meta["modelspec.prediction_type"] == "flow"
    assert meta["ss_base_model_version"] == "flux1" and meta["ss_noise_offset"] == "0.0"


def test_a_stopped_flux_run_resumes_with_the_same_losses(host, tmp_path) -> None:
    whole = train.run(WorkOrder(7, "train", _task(tmp_path / "a", steps=8)), context()[0], host)
    task = _task(tmp_path / "b", steps=8, checkpoint_every=4)
    holder = {}

    def on_event(event) -> None:
        if event.step == 4:
            holder["cancel"].set()

    ctx, cancel = context(on_event=on_event)
    holder["cancel"] = cancel
    with pytest.raises(Stopped):
        train.run(WorkOrder(7, "train", task), ctx, host)
    resumed = train.run(WorkOrder(7, "train", task), context()[0], host)
    assert resumed.resumed_at == 4 and resumed.losses == whole.losses and len(whole.losses) == 8


def _delta(down: torch.Tensor, up: torch.Tensor, alpha: float) -> torch.Tensor:
    return (up.float() @ down.float()) * (alpha / down.shape[0])


def test_the_kohya_export_fuses_bfl_layers_that_split_back_into_the_trained_ones(host, tmp_path) -> None:
    from diffusers.loaders.lora_conversion_utils import _convert_kohya_flux_lora_to_diffusers

    outcome = train.run(WorkOrder(7, "train", _task(tmp_path, steps=2)), context()[0], host)
    trained = {k.removeprefix("transformer."): v for k, v in load_file(str(outcome.lora.path)).items()}
    alpha = 2.0
    kohya = load_file(str(outcome.kohya.path))
    assert "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight" in kohya
    assert "lora_unet_single_blocks_0_linear1.lora_up.weight" in kohya
    assert all(k.startswith(("lora_unet_double_blocks_", "lora_unet_single_blocks_")) for k in kohya)
    # Double blocks: diffusers' own kohya reader splits them back into exactly the trained deltas (fp16 apart).
    double = {k: v for k, v in kohya.items() if "double_blocks" in k}
    back = _convert_kohya_flux_lora_to_diffusers(dict(double))
    for module in ("attn.to_q", "attn.to_k", "attn.add_v_proj", "attn.to_out.0", "ff_context.net.2"):
        key = f"transformer_blocks.0.{module}"
        want = _delta(trained[f"{key}.lora_A.weight"], trained[f"{key}.lora_B.weight"], alpha)
        got = back[f"transformer.{key}.lora_B.weight"].float() @ back[f"transformer.{key}.lora_A.weight"].float()
        torch.testing.assert_close(got, want, atol=2e-3, rtol=2e-2)
    # A single block's linear1 (q, k, v and the MLP's input, which was not trained): rows in that order.
    name = "lora_unet_single_blocks_0_linear1"
    fused = _delta(kohya[f"{name}.lora_down.weight"], kohya[f"{name}.lora_up.weight"], kohya[f"{name}.alpha"].item())
    width = trained["single_transformer_blocks.0.attn.to_q.lora_B.weight"].shape[0]
    assert fused.shape[0] == 3 * width + 4 * width
    for part, module in enumerate(("attn.to_q", "attn.to_k", "attn.to_v")):
        key = f"single_transformer_blocks.0.{module}"
        want = _delta(trained[f"{key}.lora_A.weight"], trained[f"{key}.lora_B.weight"], alpha)
        torch.testing.assert_close(fused[part * width : (part + 1) * width], want, atol=2e-3, rtol=2e-2)
    assert fused[3 * width :].abs().max() == 0


def test_the_converter_refuses_what_is_not_a_flux_block() -> None:
    with pytest.raises(ValueError, match="not a FLUX transformer block"):
        to_kohya({"down_blocks.0.attn.to_q.lora_A.weight": torch.zeros(2, 2)}, 1.0)


def test_t5_waits_in_host_memory_while_a_short_gpu_trains(tiny_cache, tmp_path) -> None:
    from engine.diffusion.pipelines import PipelineManager

    own = PipelineManager("cpu", cache_dir=tiny_cache)  # the session's manager keeps its T5 as it is
    host = EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: own)
    task = _task(tmp_path, steps=4, checkpoint_every=2, text_encoder_offload=True, sample_prompts=("zzchar",))
    outcome = train.run(WorkOrder(7, "train", task), context()[0], host)
    pipe = own.pipeline(task.model)
    assert getattr(pipe.text_encoder_2, "_diffusers_hook", None) is not None  # streamed block by block now
    # The checkpoint samples were drawn with T5 streamed in for their prompts, and generations still work.
    assert outcome.steps_done == 4 and all(c.samples is not None for c in outcome.checkpoints)
    assert _image(own, task.model, outcome.lora.path).shape == (64, 64, 3)


@pytest.mark.parametrize("quantization", ["fp8", "int8", "nf4"])
def test_a_flux_lora_trains_on_quantized_weights(tiny_cache, tmp_path, monkeypatch, quantization) -> None:
    """A GPU that holds FLUX only quantized still trains (QLoRA-like: frozen rounded weights, fp32 LoRA)."""
    from engine.diffusion import pipelines
    from engine.families.flux import family as flux_family
    from engine.families.flux.memory_plan import FluxPlan

    pytest.importorskip({"fp8": "torch", "int8": "torchao", "nf4": "bitsandbytes"}[quantization])
    monkeypatch.setattr(pipelines, "_free_gb", lambda device: 20.0)  # a pretended GPU, short of memory
    monkeypatch.setattr(flux_family, "plan_flux_memory", lambda free, **kw: FluxPlan("quantized", quantization))
    own = pipelines.PipelineManager("cpu", cache_dir=tiny_cache)
    host = EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: own)
    outcome = train.run(WorkOrder(7, "train", _task(tmp_path, steps=4)), context()[0], host)
    assert outcome.steps_done == 4 and all(np.isfinite(outcome.losses))
    weight = own.pipeline(outcome_spec := _task(tmp_path).model).transformer.transformer_blocks[0].attn.to_q.weight
    assert weight.dtype in (torch.float8_e4m3fn, torch.uint8) or type(weight).__name__ == "Int8Tensor"  # still
    assert _image(own, outcome_spec, outcome.lora.path).shape == (64, 64, 3)  # its LoRA loads on the same weights
