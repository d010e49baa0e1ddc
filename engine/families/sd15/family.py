"""Stable Diffusion 1.5 as the engine asks for it: a UNet family (engine.families.unet), one CLIP encoder, 512 px."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.families.base import TrainingCost
from engine.families.sd15.clip_skip import CLIP_SKIP, clip_skip_call
from engine.families.unet import UnetFamily

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager

    from engine.params import Extra, ExtraSetting
    from engine.training.recipes import Recipe


class Sd15Family(UnetFamily):
    id = "sd15"
    label = "SD 1.5"
    base_pipeline = "StableDiffusionPipeline"
    single_file_config = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    # 512² activations 1.49 GiB fp32 × 0.66 for 16 bits, 0.28 with checkpointing (trainer notes §6.1); 1.72 TFLOP a
    # forward pass on a GPU; on the CPU, 19.4 s a sample measured.
    training_cost = TrainingCost(512, 2.14, 1.0, 0.19, 0.5, 0.5, 374_016, 0.13, 19.4)
    kohya_implementation = "diffusers"
    cross_attention_width: int | None = 768  # CLIP ViT-L's hidden states
    trains_text_encoder = True
    extra_settings: tuple[ExtraSetting, ...] = (CLIP_SKIP,)

    def load_options(self) -> dict[str, Any]:
        # The studio moderates prompts itself; the SD 1.5 checker would need weights we do not ship.
        return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}

    def during_call(self, pipe: Any, extras: Mapping[str, Extra]) -> AbstractContextManager[dict[str, Any]]:
        return clip_skip_call(pipe, extras)

    def recipe(self, text_length: int | None = None) -> Recipe:
        from engine.families.sd15.training_recipe import Sd15Recipe

        return Sd15Recipe()


FAMILY = Sd15Family()
