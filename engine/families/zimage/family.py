"""Z-Image as the engine asks for it: a 6 B single-stream transformer over 2×2 latent patches, prompted through a
Qwen3 language model, sampled by flow matching; Turbo is step-distilled (8 steps, no guidance). Its weights are
placed by its own memory plan (memory_plan): whole on a 24 GB card, one component at a time on a 16 GB one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import InvalidRequest
from engine.families.base import FamilyDefaults, Placement, TrainingCost, place_whole, transformer_from_file
from engine.families.zimage.memory_plan import ZImageSizes, plan_zimage_memory, smallest_gpu_for

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch

    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode

# Why a LoRA is not trained here, in the one line the trainer shows.
NO_TRAINING = (
    "LoRA training for Z-Image is not supported: Turbo is step-distilled, and a LoRA trained on it directly undoes "
    "the distillation (trainers first add a de-distillation adapter); use a Z-Image LoRA trained elsewhere."
)


def zimage_sizes(pipe: Any) -> ZImageSizes:
    """The pipeline's weights by component, as loaded."""
    from engine.diffusion.device import module_gb

    return ZImageSizes(module_gb(pipe.transformer), module_gb(pipe.text_encoder), module_gb(pipe.vae))


class ZImageFamily(FamilyDefaults):
    id = "zimage"
    label = "Z-Image"
    denoiser_name = "transformer"
    # Turbo runs without classifier-free guidance (guidance 0): a negative prompt would be silently ignored.
    takes_negative_prompt = False
    flow_matching = True
    # Its image-to-image pipeline encodes image[0:1] with generator[0] and repeats it, as FLUX's does.
    encodes_init_image_once = True
    has_instruction_editor = False
    max_references = 1  # it has no instruction editor: /vary is image-to-image from the one image
    single_file_config = "Tongyi-MAI/Z-Image-Turbo"
    convolutional = False
    computes_in_fp8 = False  # not measured on this family yet: stays in bf16
    bucket_step = 16  # 2×2 patches of the VAE's 8× reduction
    trains_text_encoder = False
    # Declared for the trainer's table; training is refused (NO_TRAINING). bf16 weights 19.1 GiB (memory_plan).
    training_cost = TrainingCost(1024, 19.1, 12.0, 2.0, 2.0, 3.0, 0, 2.0, 3000.0, offloadable_gb=7.49)
    kohya_network_module = "networks.lora"
    kohya_implementation = "https://github.com/Tongyi-MAI/Z-Image"
    # Its transformer's module names in the diffusers and kohya layouts (the refiners, the attention and feed-forward
    # of its blocks): no other family names them so.
    lora_markers: tuple[str, ...] = (
        "noise_refiner",
        "context_refiner",
        ".attention.to_q",
        "_attention_to_q",
        "feed_forward",
    )
    cross_attention_width: int | None = None

    def pipeline_class(self, mode: Mode) -> Any:
        import diffusers

        if mode == "img2img":
            return diffusers.ZImageImg2ImgPipeline
        if mode == "inpaint":
            return diffusers.ZImageInpaintPipeline
        return diffusers.ZImagePipeline

    # No call options: the prompt's Qwen3 tokens are passed unpadded (masked), max_sequence_length only truncates.

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        raise InvalidRequest("Z-Image does not edit by instruction: leave the instruction mode off.")

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        """A Z-Image transformer shared as one file (ComfyUI's or diffusers' keys); the rest from `config`."""
        from diffusers import ZImagePipeline, ZImageTransformer2DModel

        return transformer_from_file(
            ZImageTransformer2DModel, ZImagePipeline, path, config, dtype=dtype, local_only=local_only
        )

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        """Whole, model-offloaded or streamed layer by layer, for one image at the default size: the offload is
        chosen before the weights move; a larger batch that does not fit splits on out-of-memory."""
        if free_gb is None:
            return place_whole(base, preset, weights_gb=weights_gb, free_gb=free_gb, device=device)
        from engine.diffusion import device as memory

        width, height = preset.default_size
        plan = plan_zimage_memory(free_gb, width=width, height=height, count=1, sizes=zimage_sizes(base))
        if plan.cpu_offload == "none":
            base.to(device)
        memory.apply_memory_plan(
            base, memory.MemoryPlan(plan.vae_slicing, plan.vae_tiling, plan.cpu_offload, plan.reason), device
        )
        plain = plan.cpu_offload == "none"
        return Placement(plain_weights=plain, compilable=plain)

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        """The VAE switches for this request's size and count (the offload stays as loading chose it)."""
        if free_gb is None:
            return
        from engine.diffusion import device as memory

        plan = plan_zimage_memory(free_gb, width=width, height=height, count=count, sizes=zimage_sizes(base))
        memory.apply_memory_plan(
            base, memory.MemoryPlan(plan.vae_slicing, plan.vae_tiling, "none", plan.reason), device
        )

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        # 30 alike main blocks (plus the refiners): compiled once per block kind and reused.
        denoiser.compile_repeated_blocks(fullgraph=True, **options)

    def recipe(self, text_length: int | None = None) -> Recipe:
        raise InvalidRequest(NO_TRAINING)

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        raise InvalidRequest(NO_TRAINING)  # only a trained LoRA is exported

    def memory_note(self, preset: ModelPreset) -> str | None:
        """For Z-Image Turbo: the free GPU memory from which a 1024² image runs whole, and one component at a time."""
        if preset.is_test_model:
            return None
        return (
            f"bf16 whole from ~{smallest_gpu_for('none'):.0f} GB free, "
            f"text encoder and transformer in turn (model offload) from ~{smallest_gpu_for('model'):.0f} GB: "
            "runs on a 16 GB card; below that, layer by layer (slow)"
        )


FAMILY = ZImageFamily()
