"""Putting a loaded FLUX.1 pipeline where its memory plan (`engine.families.flux.memory_plan`) says, on the worker
thread."""

from __future__ import annotations

import logging
from typing import Any

import torch

from engine.diffusion.device import module_gb
from engine.diffusion.quantize import int8_weights, nf4_weights, store_fp8
from engine.errors import OutOfMemory
from engine.families.flux.memory_plan import FluxPlan, FluxSizes

log = logging.getLogger(__name__)


def flux_sizes(pipe: Any) -> FluxSizes:
    """The pipeline's weights by component, as loaded (the plan's sizes for this model and precision)."""
    return FluxSizes(
        transformer_gb=module_gb(pipe.transformer),
        t5_gb=module_gb(pipe.text_encoder_2),
        small_gb=module_gb(pipe.text_encoder) + module_gb(pipe.vae),
    )


def _quantize(transformer: Any, quantization: str) -> None:
    if quantization == "fp8":
        store_fp8(transformer)
    elif quantization == "int8":
        int8_weights(transformer)
    else:
        nf4_weights(transformer)


def stream_t5(pipe: Any, device: str) -> None:
    """T5 stays in host memory; its blocks visit the GPU one at a time while a prompt is encoded (idempotent)."""
    from diffusers.hooks import apply_group_offloading

    if getattr(pipe.text_encoder_2, "_diffusers_hook", None) is not None:
        return  # streamed already (its memory plan, or an earlier training)
    pipe.text_encoder_2.to("cpu")

    apply_group_offloading(
        pipe.text_encoder_2,
        onload_device=torch.device(device),
        offload_device=torch.device("cpu"),
        offload_type="block_level",
        num_blocks_per_group=1,
    )


def apply_flux_plan(pipe: Any, plan: FluxPlan, device: str) -> None:
    """Place the pipeline's components as `plan` says; a refused plan raises OutOfMemory with its reason."""
    if plan.placement == "refused":
        raise OutOfMemory(plan.reason)
    if plan.placement == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    elif plan.placement == "group_offload":
        pipe.transformer.enable_group_offload(
            onload_device=torch.device(device),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=torch.device(device).type == "cuda",  # transfers overlap compute on a CUDA stream
        )
        stream_t5(pipe, device)
        for name in ("text_encoder", "vae"):
            getattr(pipe, name).to(device)
    else:  # resident, the transformer maybe quantized
        if plan.placement == "quantized":
            _quantize(pipe.transformer, plan.quantization)
        for name in ("transformer", "text_encoder", "vae"):
            getattr(pipe, name).to(device)
        if plan.t5 == "offload":
            stream_t5(pipe, device)
        else:
            pipe.text_encoder_2.to(device)
    pipe.vae.enable_slicing()  # the plan counts one image's decode at a time
    pipe._studio_flux_plan = plan
    log.info("FLUX memory plan: %s (%s)", plan.summary, plan.reason)
