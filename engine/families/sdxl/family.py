"""SDXL as the engine asks for it: a UNet family (engine.families.unet) with two text encoders, 1024 px."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.families.base import TrainingCost
from engine.families.unet import UnetFamily

if TYPE_CHECKING:
    from engine.training.recipes import Recipe


class SdxlFamily(UnetFamily):
    id = "sdxl"
    label = "SDXL"
    base_pipeline = "StableDiffusionXLPipeline"
    single_file_config = "stabilityai/stable-diffusion-xl-base-1.0"
    # 1024² activations 10.3 GiB fp32 → 6.8 GiB in 16 bits, 0.91 with checkpointing (trainer notes §6.1); 14.2 TFLOP a
    # forward pass, × 3 for forward and backward, at 40 TFLOP/s achieved.
    training_cost = TrainingCost(1024, 6.9, 6.8, 0.6, 1.5, 2.0, 2_616_320, 1.07, 200.0)
    # The code whose module names kohya's SDXL keys follow (sd-scripts library/sai_model_spec.py).
    kohya_implementation = "https://github.com/Stability-AI/generative-models"
    lora_markers: tuple[str, ...] = ("lora_te2_", "text_encoder_2.", "lora_te2.")  # its second text encoder
    cross_attention_width: int | None = 2048  # both encoders' states side by side
    trains_text_encoder = False  # its UNet only, as kohya advises: caching both encoders' outputs makes the run fit

    def recipe(self, text_length: int | None = None) -> Recipe:
        from engine.families.sdxl.training_recipe import SdxlRecipe

        return SdxlRecipe()


FAMILY = SdxlFamily()
