"""FLUX.1 as the engine asks for it: a 12 B transformer over packed latent patches, prompted through CLIP and T5,
sampled by flow matching; its weights placed by its own memory plan (memory_plan, placement)."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

from engine.families.base import FamilyDefaults, Placement, TrainingCost, place_whole, transformer_from_file
from engine.families.flux.memory_plan import FluxPlan, plan_flux_memory, smallest_gpu_for

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch

    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode


def host_ram_gb() -> float | None:
    """The machine's memory in GiB (offloading keeps the weights there); None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def placement_of(plan: FluxPlan) -> Placement:
    """What a FLUX-shaped memory plan means for the weights: plain only when resident unquantized; compilable unless
    offloaded or cast to fp8 layer by layer (those hook every forward in ways torch.compile cannot trace whole)."""
    return Placement(
        plain_weights=plan.placement == "resident" and plan.quantization == "none",
        compilable=plan.placement in ("resident", "quantized") and plan.quantization != "fp8",
    )


class FluxFamily(FamilyDefaults):
    id = "flux"
    label = "FLUX"
    denoiser_name = "transformer"
    takes_negative_prompt = False  # no classifier-free guidance to push away from a negative prompt
    flow_matching = True
    # Its image-to-image pipeline encodes a single image with generator 0 and repeats it, as inpainting does.
    encodes_init_image_once = True
    has_instruction_editor = True  # FLUX.1 Kontext keeps who is in the picture
    max_references = 1  # Kontext reads one context image
    single_file_config = "black-forest-labs/FLUX.1-dev"
    convolutional = False  # a transformer has no convolutions to lay out
    computes_in_fp8 = True
    bucket_step = 16  # 2×2 latent patches of the VAE's 8× reduction
    trains_text_encoder = False
    # flux notes §6: 31.5 GiB of bf16 weights with T5; 54.2 M LoRA parameters at rank 16 on the 13 targets; 164 TFLOP
    # a training step at 1024². Activations estimated from the transformer's 57 blocks at 4 608 tokens (not measured
    # yet): the GPU figures in BENCHMARKS.md are to replace them.
    training_cost = TrainingCost(1024, 31.5, 24.0, 3.0, 3.0, 3.0, 3_387_500, 4.1, 5000.0, offloadable_gb=8.9)
    kohya_network_module = "networks.lora_flux"  # sd-scripts trains FLUX.1 LoRAs with its own module
    kohya_implementation = "https://github.com/black-forest-labs/flux"
    # Its transformer's block names in the diffusers, kohya and BFL layouts.
    lora_markers: tuple[str, ...] = (
        "single_transformer_blocks",
        "double_blocks",
        "single_blocks",
        "transformer.transformer_blocks",
    )
    cross_attention_width: int | None = None

    def pipeline_class(self, mode: Mode) -> Any:
        import diffusers

        if mode == "img2img":
            # Named, not looked up: a FLUX.1 Kontext base would map to its own (instruction) pipeline, and to no
            # inpainting pipeline at all.
            return diffusers.FluxImg2ImgPipeline
        if mode == "inpaint":
            return diffusers.FluxInpaintPipeline
        # FLUX.1 and FLUX.1 Kontext share the family; the folder's model_index.json names which pipeline it is.
        return diffusers.DiffusionPipeline

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        # Kontext scales its output to about 1 MP and snaps the input to its preferred sizes unless told not to: the
        # edit keeps the size (and so the aspect ratio) chosen from the input image (flux notes §3).
        return {"image": images[0], "max_area": width * height, "_auto_resize": False}

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        """A FLUX transformer shared as one file (BFL or diffusers keys); the rest of the pipeline from `config`."""
        from diffusers import DiffusionPipeline, FluxTransformer2DModel

        return transformer_from_file(
            FluxTransformer2DModel, DiffusionPipeline, path, config, dtype=dtype, local_only=local_only
        )

    def call_options(self, preset: ModelPreset) -> dict[str, Any]:
        if preset.max_sequence_length is not None:
            # T5 pads every prompt to this length: it sets the text tokens, so the cost; schnell allows 256 at most.
            return {"max_sequence_length": preset.max_sequence_length}
        return {}

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        """A 12 B model on a GPU: resident, quantized, offloaded or refused, from the free memory (memory_plan)."""
        if free_gb is None:
            return place_whole(base, preset, weights_gb=weights_gb, free_gb=free_gb, device=device)
        from engine.families.flux.placement import apply_flux_plan, flux_sizes

        width, height = preset.default_size
        plan = plan_flux_memory(
            free_gb,
            width=width,
            height=height,
            count=4,
            references=1 if preset.edits_by_instruction else 0,
            sizes=flux_sizes(base),
            host_ram_gb=host_ram_gb(),
            torchao=importlib.util.find_spec("torchao") is not None,
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        )
        apply_flux_plan(base, plan, device)
        return placement_of(plan)

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        return None  # the plan sliced the VAE once, for every request

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        # 57 alike blocks, each one whole graph: compiled once and reused, in seconds not minutes.
        denoiser.compile_repeated_blocks(fullgraph=True, **options)

    def recipe(self, text_length: int | None = None) -> Recipe:
        from engine.families.flux.training_recipe import FluxRecipe

        return FluxRecipe(text_length or 512)

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        from engine.families.flux.kohya_keys import to_kohya

        return to_kohya(peft_state, alpha)

    def offload_text_encoder(self, pipe: Any, device: str) -> bool:
        from engine.families.flux.placement import stream_t5

        # T5's 8.9 GB wait in host memory, streamed in only to encode a prompt (the samples', a generation's).
        stream_t5(pipe, device)
        return True

    def memory_note(self, preset: ModelPreset) -> str | None:
        """For a 12 B FLUX.1 model: the free GPU memory from which each way of holding it runs a 1024² image."""
        if preset.is_test_model:
            return None
        refs = 1 if preset.edits_by_instruction else 0  # Kontext: the reference image's tokens join the sequence
        return (
            f"bf16 from ~{smallest_gpu_for('resident', references=refs):.0f} GB free, "
            f"int8/fp8 from ~{smallest_gpu_for('quantized', 'fp8', refs):.0f} GB, "
            f"nf4 from ~{smallest_gpu_for('quantized', 'nf4', refs):.0f} GB (with bitsandbytes), "
            f"streamed block by block from ~{smallest_gpu_for('group_offload', references=refs):.0f} GB (slow)"
        )


FAMILY = FluxFamily()
