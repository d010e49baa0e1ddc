"""Qwen-Image as the engine asks for it: a 20 B double-stream MMDiT over 2×2 latent patches, prompted through the
Qwen2.5-VL language model, sampled by flow matching; strong at rendering text in the image. txt2img, img2img and
inpainting from one loaded pipeline; LoRAs load (diffusers' Qwen loader reads the diffusers and kohya layouts).

Guidance and negative prompt: Qwen-Image is not guidance-distilled. It guides by true classifier-free guidance, a
second pass per step on the negative prompt weighted by `true_cfg_scale`; the engine's `guidance` is that scale
(pipelines.true_cfg_inputs). Above 1 every step runs twice, against the negative prompt or, when none is given, a
blank one (as the model card does); at 1 a step runs once and a negative prompt has no effect. So the presets'
guidance range starts at 1, and the default 4 is the model card's.

Not here: training (refused in one line, NO_TRAINING) and Qwen-Image-Edit (EDIT_REFUSAL).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidRequest
from engine.families.base import FamilyDefaults, Placement, TrainingCost, place_whole, transformer_from_file
from engine.families.flux.family import host_ram_gb, placement_of
from engine.families.qwen.memory_plan import LABEL, note, plan_qwen_memory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch

    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode

QWEN_IMAGE = "Qwen/Qwen-Image"
NO_TRAINING = (
    f"{LABEL} LoRAs cannot be trained here: its 20 B transformer and 8 B text encoder hold ~54 GB in bf16 before "
    "any activation, beyond the single-GPU trainer's plan; use a Qwen-Image LoRA trained elsewhere."
)
# Qwen-Image-Edit's pipeline reads the edited image through Qwen2.5-VL's processor, which transformers 5 builds only
# with torchvision installed (the processor's video half); the pinned dependencies leave torchvision out.
EDIT_REFUSAL = (
    f"{LABEL} does not edit by instruction here (Qwen-Image-Edit needs torchvision, which the studio does not "
    "install): edit with FLUX.2 [klein] or FLUX.1 Kontext, or leave the instruction mode off for image-to-image."
)


class QwenFamily(FamilyDefaults):
    id = "qwen"
    label = LABEL
    denoiser_name = "transformer"
    takes_negative_prompt = True  # true CFG against it (pipelines.true_cfg_inputs)
    flow_matching = True
    # Its image-to-image and inpainting pipelines encode image[0:1] with generator[0] and repeat it, as FLUX's do.
    encodes_init_image_once = True
    has_instruction_editor = False  # Qwen-Image-Edit does not load with the pinned dependencies (EDIT_REFUSAL)
    max_references = 1  # no instruction editor: /vary is image-to-image from the one image
    single_file_config = QWEN_IMAGE
    convolutional = False
    computes_in_fp8 = False  # not measured on this family yet: stays in bf16
    bucket_step = 16  # 2×2 patches of the VAE's 8× reduction
    trains_text_encoder = False
    # Declared for the trainer's table; training is refused (NO_TRAINING). bf16 weights ~54 GiB (memory_plan).
    training_cost = TrainingCost(1328, 53.7, 40.0, 5.0, 5.0, 4.0, 0, 8.0, 12000.0, offloadable_gb=15.5)
    kohya_network_module = "networks.lora"
    kohya_implementation = "https://github.com/QwenLM/Qwen-Image"
    # Its blocks' image and text streams (modulation and MLP) carry names no other family uses; the block path it
    # shares with FLUX counts too, so that a Qwen LoRA's attention layers do not vote for FLUX alone.
    lora_markers: tuple[str, ...] = ("img_mlp", "txt_mlp", "img_mod", "txt_mod", "transformer.transformer_blocks")
    cross_attention_width: int | None = None

    def pipeline_class(self, mode: Mode) -> Any:
        from engine.families.qwen import pipelines

        if mode == "img2img":
            return pipelines.QwenImageTrueCfgImg2ImgPipeline
        if mode == "inpaint":
            return pipelines.QwenImageTrueCfgInpaintPipeline
        return pipelines.QwenImageTrueCfgPipeline

    # No call options: the prompt's tokens are passed unpadded (masked), max_sequence_length only truncates.

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        raise InvalidRequest(EDIT_REFUSAL)

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        """A Qwen-Image transformer shared as one file (ComfyUI's or diffusers' keys); the rest from `config`."""
        from diffusers import QwenImageTransformer2DModel

        pipeline = self.pipeline_class("txt2img")
        return transformer_from_file(
            QwenImageTransformer2DModel, pipeline, path, config, dtype=dtype, local_only=local_only
        )

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        """Resident, text encoder streamed, offloaded, int8/fp8 or refused, from the free memory, for one image at
        the default size (a larger batch that does not fit splits on out-of-memory)."""
        if free_gb is None:
            return place_whole(base, preset, weights_gb=weights_gb, free_gb=free_gb, device=device)
        from engine.families.flux.placement import apply_flux_plan
        from engine.families.qwen.placement import QWEN_VL, qwen_sizes

        width, height = preset.default_size
        plan = plan_qwen_memory(
            free_gb,
            width=width,
            height=height,
            count=1,
            sizes=qwen_sizes(base),
            host_ram_gb=host_ram_gb(),
            torchao=importlib.util.find_spec("torchao") is not None,
        )
        apply_flux_plan(base, plan, device, QWEN_VL, LABEL)
        return placement_of(plan)

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        return None  # the plan sliced the VAE once, for every request

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        denoiser.compile_repeated_blocks(fullgraph=True, **options)  # 60 alike double-stream blocks

    def recipe(self, text_length: int | None = None) -> Recipe:
        raise InvalidRequest(NO_TRAINING)

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        raise InvalidRequest(f"{LABEL} LoRAs are not trained here, so there is none to export.")

    def memory_note(self, preset: ModelPreset) -> str | None:
        """For /models: the free GPU memory from which each way of holding it runs one image at the native size."""
        return None if preset.is_test_model else note()


FAMILY = QwenFamily()
