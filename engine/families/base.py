"""What differs between model families once a pipeline is loaded: its denoiser, its variants, its call options.

SD 1.5 and SDXL denoise with a UNet; FLUX.1 with a transformer over packed latent patches, prompted through T5 as
well as CLIP. The pipeline cache and the LoRA cache ask here instead of testing the family themselves.
"""

from __future__ import annotations

from typing import Any

from engine.catalog import ModelPreset
from engine.types import Mode


def denoiser_name(family: str) -> str:
    """The pipeline component that denoises (and that LoRAs patch): `unet` or `transformer`."""
    return "transformer" if family == "flux" else "unet"


def denoiser(pipe: Any, family: str) -> Any:
    return getattr(pipe, denoiser_name(family))


def variant_class(family: str, mode: Mode) -> Any:
    """The pipeline class that runs `mode` from a base pipeline's modules (`from_pipe`)."""
    if family == "flux":
        from diffusers import FluxImg2ImgPipeline, FluxInpaintPipeline

        # Named, not looked up: a FLUX.1 Kontext base would map to its own (instruction) pipeline, and to no
        # inpainting pipeline at all.
        return FluxImg2ImgPipeline if mode == "img2img" else FluxInpaintPipeline
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

    return AutoPipelineForImage2Image if mode == "img2img" else AutoPipelineForInpainting


def call_options(preset: ModelPreset) -> dict[str, Any]:
    """Keyword arguments a family's pipelines take besides the common ones."""
    if preset.max_sequence_length is not None:
        # T5 pads every prompt to this length: it sets the text tokens, so the cost, and schnell allows 256 at most.
        return {"max_sequence_length": preset.max_sequence_length}
    return {}
