"""What the Stable Diffusion families (SD 1.5, SDXL) share: a UNet over 4-channel latents, classifier-free guidance
with a negative prompt, the SD samplers, diffusers' auto pipelines for img2img and inpaint, and kohya's UNet LoRA
layout. A family of this kind states only its classes, configs and costs (see `engine.families.sdxl`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import InvalidRequest
from engine.families.base import FamilyDefaults, Placement, TrainingCost, fit_whole, place_whole

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch

    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode


class UnetFamily(FamilyDefaults):
    """A Stable Diffusion family; subclasses set the class attributes without a value here."""

    id: str
    label: str
    base_pipeline: str  # the diffusers class of its text-to-image pipeline
    single_file_config: str
    training_cost: TrainingCost
    kohya_implementation: str
    trains_text_encoder: bool

    denoiser_name = "unet"
    takes_negative_prompt = True
    flow_matching = False
    encodes_init_image_once = False
    has_instruction_editor = False
    max_references = 1
    convolutional = True
    computes_in_fp8 = False
    bucket_step = 8  # the VAE's 8× reduction: latents of whole pixels
    kohya_network_module = "networks.lora"
    lora_markers: tuple[str, ...] = ()
    cross_attention_width: int | None

    def pipeline_class(self, mode: Mode) -> Any:
        import diffusers

        if mode == "img2img":
            return diffusers.AutoPipelineForImage2Image
        if mode == "inpaint":
            return diffusers.AutoPipelineForInpainting
        return getattr(diffusers, self.base_pipeline)

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        raise InvalidRequest(f"{self.label} models do not edit by instruction: leave the instruction mode off.")

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        return self.pipeline_class("txt2img").from_single_file(
            str(path), dtype=dtype, config=config, local_files_only=local_only, **self.load_options()
        )

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        return place_whole(base, preset, weights_gb=weights_gb, free_gb=free_gb, device=device)

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        fit_whole(base, weights_gb=weights_gb, free_gb=free_gb, width=width, height=height, count=count, device=device)

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        denoiser.compile(**({"mode": "max-autotune-no-cudagraphs"} | options))

    def recipe(self, text_length: int | None = None) -> Recipe:
        raise NotImplementedError  # each family names its own

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        return None  # diffusers converts a UNet LoRA to kohya's layout (engine.training.export)

    def memory_note(self, preset: ModelPreset) -> str | None:
        return None
