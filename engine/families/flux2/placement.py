"""The sizes of a loaded FLUX.2 [klein] pipeline, for its memory plan (placed by FLUX.1's `apply_flux_plan`)."""

from __future__ import annotations

from typing import Any

from engine.diffusion.device import module_gb
from engine.families.flux.memory_plan import FluxSizes


def klein_sizes(pipe: Any) -> FluxSizes:
    """The pipeline's weights by component, as loaded: its Qwen3 encoder takes T5's place in the plan."""
    return FluxSizes(
        transformer_gb=module_gb(pipe.transformer), t5_gb=module_gb(pipe.text_encoder), small_gb=module_gb(pipe.vae)
    )
