"""Putting a loaded Qwen-Image pipeline where its memory plan says, on the worker thread (FLUX.2's way: the text
encoder streams layer by layer when it waits in host memory)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from engine.diffusion.device import module_gb
from engine.diffusion.quantize import int8_weights, store_fp8
from engine.errors import OutOfMemory
from engine.families.flux.memory_plan import FluxPlan, FluxSizes
from engine.families.flux2.placement import stream_text_encoder

log = logging.getLogger(__name__)


def qwen_sizes(pipe: Any) -> FluxSizes:
    """The pipeline's weights by component, as loaded: Qwen2.5-VL takes T5's place in the plan."""
    return FluxSizes(module_gb(pipe.transformer), module_gb(pipe.text_encoder), module_gb(pipe.vae))


def apply_qwen_plan(pipe: Any, plan: FluxPlan, device: str) -> None:
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
            (int8_weights if plan.quantization == "int8" else store_fp8)(pipe.transformer)
        pipe.transformer.to(device)
        pipe.vae.to(device)
        if plan.t5 == "offload":
            stream_text_encoder(pipe, device)
        else:
            pipe.text_encoder.to(device)
    pipe.vae.enable_slicing()
    log.info("Qwen-Image memory plan: %s (%s)", plan.summary.replace("T5", "Qwen2.5-VL"), plan.reason)
