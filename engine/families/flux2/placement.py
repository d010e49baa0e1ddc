"""Putting a loaded FLUX.2 [klein] pipeline where its memory plan says, on the worker thread."""

from __future__ import annotations

import logging
from typing import Any

import torch

from engine.diffusion.device import module_gb
from engine.diffusion.quantize import int8_weights, store_fp8
from engine.errors import OutOfMemory
from engine.families.flux.memory_plan import FluxPlan, FluxSizes

log = logging.getLogger(__name__)


def klein_sizes(pipe: Any) -> FluxSizes:
    """The pipeline's weights by component, as loaded: its Qwen3 encoder takes T5's place in the plan."""
    return FluxSizes(
        transformer_gb=module_gb(pipe.transformer), t5_gb=module_gb(pipe.text_encoder), small_gb=module_gb(pipe.vae)
    )


def stream_text_encoder(pipe: Any, device: str) -> None:
    """Qwen3 stays in host memory; its layers visit the GPU one at a time while a prompt is encoded (idempotent)."""
    from diffusers.hooks import apply_group_offloading

    if getattr(pipe.text_encoder, "_diffusers_hook", None) is not None:
        return
    pipe.text_encoder.to("cpu")
    apply_group_offloading(
        pipe.text_encoder,
        onload_device=torch.device(device),
        offload_device=torch.device("cpu"),
        offload_type="leaf_level",  # a causal LM's layers sit below `model`: leaf level reaches them all
    )


def apply_klein_plan(pipe: Any, plan: FluxPlan, device: str) -> None:
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
            use_stream=torch.device(device).type == "cuda",
        )
        stream_text_encoder(pipe, device)
        pipe.vae.to(device)
    else:
        if plan.placement == "quantized":
            # nf4 is FLUX.1's last resort; klein's transformer in fp8 or int8 fits wherever nf4 would matter.
            (int8_weights if plan.quantization == "int8" else store_fp8)(pipe.transformer)
        pipe.transformer.to(device)
        pipe.vae.to(device)
        if plan.t5 == "offload":
            stream_text_encoder(pipe, device)
        else:
            pipe.text_encoder.to(device)
    pipe.vae.enable_slicing()
    log.info("FLUX.2 [klein] memory plan: %s (%s)", plan.summary.replace("T5", "Qwen3"), plan.reason)
