"""Putting a loaded Qwen-Image pipeline where its memory plan says: FLUX.1's placement (`apply_flux_plan`), with
Qwen2.5-VL as the big text encoder that streams leaf by leaf when it waits in host memory, as klein's Qwen3 does."""

from __future__ import annotations

from typing import Any

from engine.diffusion.device import module_gb
from engine.families.flux.memory_plan import FluxSizes
from engine.families.flux.placement import BigEncoder

QWEN_VL = BigEncoder("text_encoder", "leaf_level", "Qwen2.5-VL")  # a causal LM's layers sit below `model`


def qwen_sizes(pipe: Any) -> FluxSizes:
    """The pipeline's weights by component, as loaded: Qwen2.5-VL takes T5's place in the plan."""
    return FluxSizes(module_gb(pipe.transformer), module_gb(pipe.text_encoder), module_gb(pipe.vae))
