"""The optimisation levels: what each one changes in a loaded pipeline, and where fp8 compute may run."""

from __future__ import annotations

import logging

import pytest
import torch

from engine.catalog import ModelSpec, get_preset
from engine.diffusion import optimize
from engine.diffusion.optimize import effective_level, optimize_level
from engine.diffusion.pipelines import PipelineManager
from engine.diffusion.quantize import fp8_compute_refusal, int8_weights
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import max_diff

FLUX = ModelSpec.from_preset(get_preset("tiny-flux"))


def _request(**kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a red lighthouse", "model": "tiny-flux", "count": 1, "seed": 4,
                              "steps": 2, **kw})  # fmt: skip


def test_levels_from_settings_and_the_older_switch() -> None:
    assert [optimize_level(v) for v in (True, False, "max", "auto")] == ["compile", "off", "max", "auto"]
    with pytest.raises(ValueError, match="one of off, auto, compile, max"):
        optimize_level("fast")
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert effective_level("auto", cpu) == "off" and effective_level("auto", gpu) == "auto"
    assert effective_level("compile", cpu) == "compile"


def test_fp8_compute_needs_an_ada_or_hopper_gpu(monkeypatch) -> None:
    assert fp8_compute_refusal(torch.device("cpu")) == "fp8 compute needs a CUDA GPU"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert "sm_80" in (fp8_compute_refusal(torch.device("cuda")) or "")  # an A100 has no fp8 units
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    pytest.importorskip("torchao")
    assert fp8_compute_refusal(torch.device("cuda")) is None  # an H100/H200


def test_auto_changes_nothing_on_the_cpu(tiny_cache, manager) -> None:
    auto = PipelineManager("cpu", cache_dir=tiny_cache, optimize="auto")
    image = auto.generate(_request(), FLUX).images[0].image
    assert not auto._loaded["tiny-flux"].qkv_fused
    assert max_diff(image, manager.generate(_request(), FLUX).images[0].image) == 0


def test_max_on_the_cpu_says_why_it_keeps_bf16_and_still_fuses(tiny_cache, caplog) -> None:
    fastest = PipelineManager("cpu", cache_dir=tiny_cache, optimize="max")
    with caplog.at_level(logging.INFO, logger="engine.diffusion.optimize"):
        fastest.generate(_request(), FLUX)
    assert "stays in its precision: fp8 compute needs a CUDA GPU" in caplog.text
    assert fastest._loaded["tiny-flux"].qkv_fused


def test_quantized_compute_never_fuses_and_a_lora_still_applies(
    flux_lora_file, tiny_cache, manager, monkeypatch
) -> None:
    """Where fp8 compute runs, its weights are torchao tensors: stand in with torchao's int8 on the CPU."""
    pytest.importorskip("torchao")
    applied: list[str] = []

    def quantize(transformer) -> None:
        applied.append(type(transformer).__name__)
        int8_weights(transformer)

    monkeypatch.setattr(optimize, "fp8_compute_refusal", lambda device: None)
    monkeypatch.setattr(optimize, "fp8_compute", quantize)
    fastest = PipelineManager("cpu", cache_dir=tiny_cache, optimize="max")
    base = fastest.generate(_request(), FLUX).images[0].image
    entry = fastest._loaded["tiny-flux"]
    assert applied == ["FluxTransformer2DModel"] and not entry.fusable and not entry.qkv_fused
    assert max_diff(base, manager.generate(_request(), FLUX).images[0].image) < 64  # rounded, the same picture
    styled = (
        fastest.generate(_request(loras=(LoraSpec("style", str(flux_lora_file), "flux", 1.0),)), FLUX).images[0].image
    )
    assert max_diff(styled, base) > 0 and not entry.qkv_fused

    # A training needs the exact weights: the model is loaded again without fp8 compute, once.
    trained = fastest.training_pipeline(FLUX, "portrait")
    assert type(trained.transformer.transformer_blocks[0].attn.to_q.weight) is torch.nn.Parameter
    assert applied == ["FluxTransformer2DModel"] and fastest._loaded["tiny-flux"].training == "portrait"


def test_compiled_flux_blocks_trace_whole_with_fused_qkv_and_with_a_lora(flux_lora_file, tiny_cache, manager) -> None:
    """The GPU's compile path, traced here by dynamo and AOT autograd (fullgraph: any graph break raises)."""
    from engine.diffusion.optimize import compile_denoiser

    styled = _request(loras=(LoraSpec("style", str(flux_lora_file), "flux", 1.0),))
    compiled = PipelineManager("cpu", cache_dir=tiny_cache, optimize="compile")
    compile_denoiser(compiled.pipeline(FLUX), "flux", backend="aot_eager")
    for request in (_request(), styled, _request()):  # fused, unfused for the LoRA, fused again
        got = compiled.generate(request, FLUX).images[0].image
        # AOT autograd decomposes some ops (norms, GELU) into others, so the float sums may round differently in
        # their last bits, which can move a pixel by one 8-bit level: 2 levels of 255 allowed, a wrong graph is tens.
        assert max_diff(got, manager.generate(request, FLUX).images[0].image) <= 2
    blocks = compiled.pipeline(FLUX).transformer.transformer_blocks
    assert all(block._compiled_call_impl is not None for block in blocks)  # compiled in place, module by module


def test_a_flux_lora_trains_on_compiled_blocks_with_checkpointing(traced_compile, tiny_cache, tmp_path) -> None:
    """A model compiled for generation (fullgraph blocks) also trains: adapters added, gradients checkpointed."""
    from engine.host import EngineConfig, EngineHost
    from engine.tasks import train
    from engine.work import WorkOrder
    from tests.engine.training_support import context, make_task, planted_images

    compiled = PipelineManager("cpu", cache_dir=tiny_cache, optimize="compile")
    host = EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: compiled)
    flow = {"noise_offset": 0.0, "min_snr_gamma": None, "gradient_checkpointing": True}
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set"), "tiny-flux", steps=4, **flow)
    outcome = train.run(WorkOrder(7, "train", task), context()[0], host)
    assert outcome.steps_done == 4 and len(set(outcome.losses)) == 4
    assert compiled.pipeline(FLUX).transformer.transformer_blocks[0]._compiled_call_impl is not None
