"""Putting a loaded FLUX.1 or FLUX.2 [klein] pipeline where its memory plan (`engine.families.flux.memory_plan`)
says, on the worker thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class BigEncoder:
    """The text encoder a plan may leave in host memory (`FluxPlan.t5`), and how its layers visit the GPU."""

    attribute: str  # the pipeline's attribute
    offload_type: Literal["block_level", "leaf_level"]
    name: str  # in the plan's log line, in T5's place


T5 = BigEncoder("text_encoder_2", "block_level", "T5")  # FLUX.1: T5 beside the small CLIP
QWEN3 = BigEncoder("text_encoder", "leaf_level", "Qwen3")  # FLUX.2 [klein]: a causal LM's layers sit below `model`


def streamed(module: Any) -> bool:
    """Whether group offloading hooks `module`: block level hooks the module itself, leaf level its leaves only."""
    return any(getattr(part, "_diffusers_hook", None) is not None for part in module.modules())


def stream_encoder(pipe: Any, device: str, encoder: BigEncoder = T5) -> None:
    """The encoder stays in host memory; its layers visit the GPU a group at a time while a prompt is encoded
    (idempotent)."""
    from diffusers.hooks import apply_group_offloading

    module = getattr(pipe, encoder.attribute)
    if streamed(module):
        return  # streamed already (its memory plan, or an earlier training)
    module.to("cpu")
    apply_group_offloading(
        module,
        onload_device=torch.device(device),
        offload_device=torch.device("cpu"),
        offload_type=encoder.offload_type,
        **({"num_blocks_per_group": 1} if encoder.offload_type == "block_level" else {}),
    )


def stream_t5(pipe: Any, device: str) -> None:
    """FLUX.1's T5 waits in host memory, streamed block by block to encode a prompt (idempotent)."""
    stream_encoder(pipe, device, T5)


def apply_flux_plan(pipe: Any, plan: FluxPlan, device: str, encoder: BigEncoder = T5, label: str = "FLUX") -> None:
    """Place the pipeline's components as `plan` says, `encoder` the one its `t5` field is about (FLUX.1's T5 or
    klein's Qwen3); a refused plan raises OutOfMemory with its reason."""
    if plan.placement == "refused":
        raise OutOfMemory(plan.reason)
    small = [name for name in ("text_encoder", "vae") if name != encoder.attribute]  # the VAE, and FLUX.1's CLIP
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
        stream_encoder(pipe, device, encoder)
        for name in small:
            getattr(pipe, name).to(device)
    else:  # resident, the transformer maybe quantized
        if plan.placement == "quantized":
            _quantize(pipe.transformer, plan.quantization)  # klein's plan never offers nf4 (no bitsandbytes asked)
        for name in ("transformer", *small):
            getattr(pipe, name).to(device)
        if plan.t5 == "offload":
            stream_encoder(pipe, device, encoder)
        else:
            getattr(pipe, encoder.attribute).to(device)
    pipe.vae.enable_slicing()  # the plan counts one image's decode at a time
    log.info("%s memory plan: %s (%s)", label, plan.summary.replace("T5", encoder.name), plan.reason)
