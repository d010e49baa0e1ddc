"""A FLUX pipeline placed as its memory plan says: quantized storage, T5 (klein: Qwen3) streamed from host memory,
or refused.

The manager runs on the CPU here; `_free_gb` pretends a GPU so the planning and placing code runs as on one.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

from engine.catalog import ModelSpec, get_preset
from engine.diffusion import pipelines
from engine.diffusion.pipelines import PipelineManager
from engine.errors import OutOfMemory
from engine.families.flux import family as flux_family
from engine.families.flux.memory_plan import FluxPlan, FluxSizes
from engine.families.flux.placement import streamed
from engine.families.flux2 import family as klein_family
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import max_diff

SPEC = ModelSpec.from_preset(get_preset("tiny-flux"))


def _request(**kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a red lighthouse", "model": "tiny-flux", "count": 2, "seed": 4,
                              "steps": 2, **kw})  # fmt: skip


def _manager(
    tiny_cache: Path, monkeypatch: pytest.MonkeyPatch, plan: FluxPlan, asked: list, optimize: str = "off"
) -> PipelineManager:
    def fake_plan(free_gb: float | None, **kw) -> FluxPlan:
        asked.append((free_gb, kw))
        return plan

    monkeypatch.setattr(pipelines, "_free_gb", lambda device: 20.0)
    monkeypatch.setattr(flux_family, "plan_flux_memory", fake_plan)
    return PipelineManager(device="cpu", cache_dir=tiny_cache, optimize=optimize)


def test_fp8_storage_and_t5_streamed_from_host_memory_still_generate(tiny_cache, manager, monkeypatch) -> None:
    reference = manager.generate(_request(), SPEC).images
    asked: list = []
    placed = _manager(tiny_cache, monkeypatch, FluxPlan("quantized", "fp8", t5="offload", need_gb=1.0), asked)
    result = placed.generate(_request(), SPEC)
    ((free_gb, kw),) = asked
    sizes: FluxSizes = kw["sizes"]
    assert free_gb == 20.0 and kw["count"] == 4 and 0 < sizes.transformer_gb < 0.01 and sizes.t5_gb > 0
    # The plan knows which quantizers are installed: int8 and nf4 are only offered where they can load.
    assert kw["torchao"] == (find_spec("torchao") is not None)
    assert kw["bitsandbytes"] == (find_spec("bitsandbytes") is not None)
    pipe = placed.pipeline(SPEC)
    stored = {p.dtype for p in pipe.transformer.parameters()}
    assert torch.float8_e4m3fn in stored  # the weights are stored in fp8, cast up layer by layer to compute
    assert getattr(pipe.text_encoder_2, "_diffusers_hook", None) is not None  # T5 streamed, block by block
    assert pipe.vae.use_slicing
    # fp8 storage moves the pixels a little, not the picture: the same seeds make nearly the same images.
    assert all(max_diff(a.image, b.image) < 64 for a, b in zip(result.images, reference, strict=True))


def test_a_model_that_fits_nowhere_is_refused_with_the_reason(tiny_cache, monkeypatch) -> None:
    reason = "FLUX.1 does not fit in 3.0 GB of free GPU memory, even streamed block by block."
    placed = _manager(tiny_cache, monkeypatch, FluxPlan("refused", reason=reason), [])
    with pytest.raises(OutOfMemory, match=r"does not fit in 3\.0 GB"):
        placed.generate(_request(), SPEC)
    assert placed.loaded_models == ()  # nothing half-loaded stays behind


@pytest.mark.parametrize("quantization", ["fp8", "int8", "nf4"])
def test_quantized_weights_generate_and_take_a_lora(
    flux_lora_file, tiny_cache, manager, monkeypatch, quantization
) -> None:
    pytest.importorskip({"fp8": "torch", "int8": "torchao", "nf4": "bitsandbytes"}[quantization])
    reference = manager.generate(_request(count=1), SPEC).images[0].image
    # Fused projections would concatenate quantized weights: the optimised path leaves them apart.
    placed = _manager(tiny_cache, monkeypatch, FluxPlan("quantized", quantization, need_gb=1.0), [], "compile")
    base = placed.generate(_request(count=1), SPEC).images[0].image
    block = placed.pipeline(SPEC).transformer.transformer_blocks[0]
    weight = block.attn.to_q.weight
    if quantization == "fp8":
        assert weight.dtype == torch.float8_e4m3fn
    elif quantization == "nf4":
        assert (
            weight.dtype == torch.uint8
            and weight.numel() * 2 == block.attn.to_q.in_features * block.attn.to_q.out_features
        )
    else:
        assert type(weight).__name__ == "Int8Tensor"
    assert max_diff(base, reference) < 64  # rounded weights, the same picture
    # A LoRA loads on top of the quantized layers (peft wraps them), changes the image, and scale 0 is the base.
    styled = placed.generate(_request(count=1, loras=(LoraSpec("style", str(flux_lora_file), "flux", 1.0),)), SPEC)
    zero = placed.generate(_request(count=1, loras=(LoraSpec("style", str(flux_lora_file), "flux", 0.0),)), SPEC)
    assert max_diff(styled.images[0].image, base) > 0 and max_diff(zero.images[0].image, base) == 0
    assert not placed._loaded["tiny-flux"].qkv_fused


def test_streamed_block_by_block_a_lora_gives_the_resident_images(
    flux_lora_file, tiny_cache, manager, monkeypatch
) -> None:
    """Group offload moves weights, never rounds them: the same images as resident, with and without a LoRA."""
    styled = _request(count=1, loras=(LoraSpec("style", str(flux_lora_file), "flux", 1.0),))
    placed = _manager(tiny_cache, monkeypatch, FluxPlan("group_offload", t5="offload", need_gb=1.0), [])
    for request in (_request(count=1), styled, _request(count=1)):
        got, want = placed.generate(request, SPEC).images[0].image, manager.generate(request, SPEC).images[0].image
        assert max_diff(got, want) == 0
    assert getattr(placed.pipeline(SPEC).transformer, "_diffusers_hook", None) is not None  # hooked, streamed


@pytest.mark.parametrize(
    ("plan", "compiled"),
    [
        (FluxPlan("quantized", "int8", need_gb=1.0), True),
        (FluxPlan("quantized", "nf4", need_gb=1.0), True),
        (FluxPlan("quantized", "fp8", need_gb=1.0), False),  # layerwise casting: dynamo refuses its Parameter()
        (FluxPlan("group_offload", t5="offload", need_gb=1.0), False),  # its hooks are torch.compiler.disable()d
    ],
)
def test_compile_runs_on_every_placement_that_can_trace_whole(
    traced_compile, flux_lora_file, tiny_cache, monkeypatch, plan, compiled
):
    """STUDIO_OPTIMIZE=compile as on a GPU (traced here with AOT autograd): no placement makes a job fail."""
    pytest.importorskip({"int8": "torchao", "nf4": "bitsandbytes"}.get(plan.quantization, "torch"))
    placed = _manager(tiny_cache, monkeypatch, plan, [], "compile")
    base = placed.generate(_request(count=1), SPEC).images[0].image
    styled = placed.generate(_request(count=1, loras=(LoraSpec("style", str(flux_lora_file), "flux", 1.0),)), SPEC)
    assert max_diff(styled.images[0].image, base) > 0
    blocks = placed.pipeline(SPEC).transformer.transformer_blocks
    assert all((block._compiled_call_impl is not None) == compiled for block in blocks)


KLEIN = ModelSpec.from_preset(get_preset("tiny-flux2"))


@pytest.mark.parametrize("plan", [FluxPlan("quantized", "fp8", t5="offload", need_gb=1.0),
                                  FluxPlan("group_offload", t5="offload", need_gb=1.0)])  # fmt: skip
def test_klein_streams_its_qwen3_encoder_as_flux_streams_t5(tiny_cache, manager, monkeypatch, caplog, plan) -> None:
    """FLUX.2 [klein] goes through FLUX.1's placement with Qwen3 in T5's place: streamed from host memory."""
    request = replace(_request(count=1), model="tiny-flux2")
    reference = manager.generate(request, KLEIN).images[0].image
    monkeypatch.setattr(pipelines, "_free_gb", lambda device: 20.0)
    monkeypatch.setattr(klein_family, "plan_klein_memory", lambda free_gb, **kw: plan)
    placed = PipelineManager(device="cpu", cache_dir=tiny_cache)
    with caplog.at_level(logging.INFO):
        got = placed.generate(request, KLEIN).images[0].image
    pipe = placed.pipeline(KLEIN)
    assert streamed(pipe.text_encoder)  # Qwen3 streamed, leaf by leaf
    assert pipe.vae.use_slicing and "FLUX.2 [klein] memory plan" in caplog.text and "Qwen3" in caplog.text
    stored = {p.dtype for p in pipe.transformer.parameters()}
    assert (torch.float8_e4m3fn in stored) == (plan.placement == "quantized")
    # Streaming moves weights and never rounds them; fp8 storage moves the pixels a little, not the picture.
    assert max_diff(got, reference) < (64 if plan.placement == "quantized" else 1)
