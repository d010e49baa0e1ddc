"""FLUX.2 [klein] as the engine asks for it: a 4 B or 9 B transformer over packed latent patches, prompted through
a Qwen3 language model, sampled by flow matching, that generates and edits from one or several reference images.

Its pipeline (diffusers' Flux2KleinPipeline) takes the references as a list (`image=`): their tokens join the
sequence, so an edit keeps who is in them; there is no strength and no image-to-image pipeline. Its LoRAs load
(diffusers' Flux2 loader) but do not train here yet.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidRequest
from engine.families.base import FamilyDefaults, Placement, TrainingCost, place_whole, transformer_from_file
from engine.families.flux.family import host_ram_gb, placement_of
from engine.families.flux2.memory_plan import KLEIN_SIZES, LABEL, note, plan_klein_memory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch

    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode

KLEIN_4B = "black-forest-labs/FLUX.2-klein-4B"
KLEIN_9B = "black-forest-labs/FLUX.2-klein-9B"
# Every reference adds its tokens (up to 1 MP each) to the sequence: four bound the memory of a typical edit.
MAX_REFERENCES = 4
MIN_REFERENCE_SIDE = 64  # diffusers' Flux2ImageProcessor.check_image_input


def _at_least(image: Any, side: int) -> Any:
    """`image` scaled up (aspect kept) until both sides are at least `side` pixels."""
    scale = side / min(image.size)
    if scale <= 1:
        return image
    return image.resize((round(image.width * scale), round(image.height * scale)))


class Flux2Family(FamilyDefaults):
    id = "flux2"
    label = LABEL
    denoiser_name = "transformer"
    takes_negative_prompt = False  # the pipeline guides (base models only) against an empty prompt, never a given one
    flow_matching = True
    encodes_init_image_once = False  # references are encoded once and shared by every image of the batch, by design
    has_instruction_editor = True  # every klein model edits from references: /vary goes to it
    max_references = MAX_REFERENCES
    single_file_config = KLEIN_4B
    convolutional = False
    computes_in_fp8 = True
    bucket_step = 16  # 2×2 patches of the VAE's 8× reduction, as FLUX.1
    trains_text_encoder = False
    # Not used while training is refused (recipe): the 4 B model's weights in bf16, other figures FLUX.1's scaled by
    # the transformer's size, to be measured when a recipe exists.
    training_cost = TrainingCost(1024, 15.1, 8.0, 1.0, 1.0, 3.0, 1_000_000, 1.4, 1700.0, offloadable_gb=7.5)
    kohya_network_module = "networks.lora_flux"
    kohya_implementation = "https://github.com/black-forest-labs/flux2"
    # Its single blocks' fused projection and its SwiGLU feed-forward exist in FLUX.2 only; the block names it
    # shares with FLUX.1 make a tie that FLUX.1 (registered first) wins, so a FLUX.1 file stays FLUX.1.
    lora_markers: tuple[str, ...] = (
        "to_qkv_mlp_proj",
        "ff.linear_in",
        "ff.linear_out",
        "ff_context.linear_in",
        "ff_context.linear_out",
        "single_transformer_blocks",
        "transformer.transformer_blocks",
    )
    cross_attention_width: int | None = None

    def pipeline_class(self, mode: Mode) -> Any:
        import diffusers

        if mode == "img2img":
            raise InvalidRequest(
                f"{LABEL} edits from reference images, not by strength: use /vary (an instruction) or leave "
                "the strength out."
            )
        if mode == "inpaint":
            return diffusers.Flux2KleinInpaintPipeline
        return diffusers.Flux2KleinPipeline  # txt2img and edits from references share the base pipeline

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        # A list even for one image: the pipeline encodes each reference and appends its tokens in turn (the output
        # size comes with every call). It refuses a reference under 64 px a side: such a one is scaled up to it.
        return {"image": [_at_least(image, MIN_REFERENCE_SIDE) for image in images]}

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        """A klein transformer shared as one file; the rest of the pipeline from `config`."""
        from diffusers import Flux2KleinPipeline, Flux2Transformer2DModel

        return transformer_from_file(
            Flux2Transformer2DModel, Flux2KleinPipeline, path, config, dtype=dtype, local_only=local_only
        )

    def call_options(self, preset: ModelPreset) -> dict[str, Any]:
        # Qwen3 pads every prompt to this length: it sets the text tokens, so the cost.
        return {"max_sequence_length": preset.max_sequence_length or 512}

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        """Resident, Qwen3 streamed, offloaded, int8/fp8 or refused, from the free memory (FLUX.1's planner)."""
        if free_gb is None:
            return place_whole(base, preset, weights_gb=weights_gb, free_gb=free_gb, device=device)
        from engine.families.flux.placement import QWEN3, apply_flux_plan
        from engine.families.flux2.placement import klein_sizes

        width, height = preset.default_size
        plan = plan_klein_memory(
            free_gb,
            width=width,
            height=height,
            count=4,
            references=1,  # a typical edit: one reference
            sizes=klein_sizes(base),
            host_ram_gb=host_ram_gb(),
            torchao=importlib.util.find_spec("torchao") is not None,
        )
        apply_flux_plan(base, plan, device, QWEN3, LABEL)
        return placement_of(plan)

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        return None  # the plan sliced the VAE once, for every request

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        denoiser.compile_repeated_blocks(fullgraph=True, **options)  # its double and single blocks repeat

    def recipe(self, text_length: int | None = None) -> Recipe:
        # Its denoiser takes 4-axis position ids and Qwen3's stacked hidden states: FLUX.1's recipe does not fit.
        raise InvalidRequest(f"{LABEL} LoRAs cannot be trained here yet: train on FLUX.1 or SDXL instead.")

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        raise InvalidRequest(f"{LABEL} LoRAs are not trained here, so there is none to export.")

    def memory_note(self, preset: ModelPreset) -> str | None:
        """For /models: the free GPU memory from which each way of holding it runs a 1024² edit of one reference."""
        if preset.is_test_model:
            return None
        return note(KLEIN_SIZES["9b" if preset.source == KLEIN_9B else "4b"], references=1)


FAMILY = Flux2Family()
