"""What a model family declares: the `Family` Protocol the engine asks instead of testing a family's name.

A family is one object (its folder's `FAMILY`), registered in `engine.families.registry`. It says which pipeline
runs each mode, which module denoises, the prompt and sampler rules, where the weights go, how the denoiser is sped
up, how its LoRAs are written and trained, and what the trainer's memory model costs. Nothing here imports torch or
diffusers at module level: the catalog (no torch) asks the same objects as the GPU worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    import torch

    from engine.params import Extra, ExtraSetting
    from engine.presets import ModelPreset
    from engine.training.recipes import Recipe
    from engine.types import Mode


@dataclass(frozen=True)
class Placement:
    """Where a loaded base pipeline's weights went, as far as the optimiser needs to know.

    `plain_weights`: the denoiser's weights are ordinary tensors on the device (no offload hooks, no quantized
    storage). `compilable`: no hook that torch.compile cannot trace whole sits in its forward.
    """

    plain_weights: bool
    compilable: bool


@dataclass(frozen=True)
class TrainingCost:
    """What one family costs to train, at its native resolution `base_px` (trainer notes §6)."""

    base_px: int
    weights_gb: float  # the pipeline's frozen weights in 16 bits (denoiser, text encoders, VAE stay loaded)
    activations_gb: float  # saved activations per sample, 16 bits
    checkpointed_gb: float  # the same with gradient checkpointing
    transient_gb: float  # backward buffers and the largest block's scratch
    sampling_gb: float  # drawing the checkpoint samples (the VAE decode dominates)
    lora_params_per_rank: int  # LoRA parameters per unit of rank on the recipe's targets (counted on the real config)
    sample_s_gpu: float  # seconds per training sample on an H100-class GPU (to be replaced by measurements)
    sample_s_cpu: float  # the same on a CPU
    offloadable_gb: float = 0.0  # text encoder weights that may wait in host memory while it trains (FLUX's T5)


class Family(Protocol):
    """One model family: everything the engine used to learn by testing `spec.family == "…"`."""

    id: str  # the catalog's family id (ModelPreset.family, ModelSpec.family, LoraSpec.family)
    label: str  # how messages name its models
    denoiser_name: str  # the pipeline component that denoises, and that LoRAs patch: `unet` or `transformer`
    # Prompt and sampler rules (engine.catalog.resolve).
    takes_negative_prompt: bool  # False: no classifier-free guidance to push away from a negative prompt
    flow_matching: bool  # samples with the flow schedulers only, and trains with no noise offset or Min-SNR
    # Generation.
    encodes_init_image_once: bool  # its img2img pipeline encodes one image with generator 0 and repeats it
    has_instruction_editor: bool  # a model of the family edits by instruction: /vary goes there when installed
    max_references: int  # the reference images one instruction edit may take (the first is the image edited)
    # Loading.
    single_file_config: str  # the hub id whose configs lay out a single-file checkpoint
    # Optimisation.
    convolutional: bool  # the denoiser has convolutions: channels-last layouts pay off
    computes_in_fp8: bool  # `max` may turn the denoiser to fp8 compute
    # Training and LoRA files.
    bucket_step: int  # the multiple of the aspect buckets' sides, in pixels
    trains_text_encoder: bool  # a LoRA may train the text encoder too
    training_cost: TrainingCost  # the trainer's memory and time model
    kohya_network_module: str  # kohya's `--network_module` (ss_network_module)
    kohya_implementation: str  # `modelspec.implementation` of a kohya-layout file
    # Reading a LoRA file's family from its header (engine.families.lora_detect).
    lora_markers: tuple[str, ...]  # fragments of tensor names that its LoRAs use and other families' do not
    cross_attention_width: int | None  # the text-embedding width its UNet's cross-attention reads; None: no UNet
    # The settings it takes besides the common ones (GenerationParams.extras), checked by engine.catalog.resolve.
    extra_settings: tuple[ExtraSetting, ...]

    def pipeline_class(self, mode: Mode) -> Any:
        """The diffusers class that loads the base pipeline (txt2img, instruct) or runs `mode` from it (`from_pipe`)."""
        ...

    def edit_inputs(self, images: Sequence[Any], width: int, height: int) -> dict[str, Any]:
        """The pipeline's keyword arguments for an instruction edit of `images` (PIL, already at width × height)."""
        ...

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments for `from_pretrained` / `from_single_file` besides the common ones."""
        ...

    def load_single_file(self, path: Path, config: str, *, dtype: Any, local_only: bool) -> Any:
        """A base pipeline from one .safetensors file, laid out by `config` (a diffusers folder or hub id)."""
        ...

    def call_options(self, preset: ModelPreset) -> dict[str, Any]:
        """Keyword arguments its pipelines take besides the common ones (its own settings: `during_call`)."""
        ...

    def during_call(self, pipe: Any, extras: Mapping[str, Extra]) -> AbstractContextManager[dict[str, Any]]:
        """For one run of `pipe`: the keyword arguments its own settings in `extras` add, checked against the loaded
        model, with whatever the run needs changed on `pipe` undone when the context ends."""
        ...

    def place(
        self, base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str
    ) -> Placement:
        """Put a freshly loaded base pipeline where its memory plan says (`free_gb`: None on the CPU)."""
        ...

    def fit_request(
        self, base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
    ) -> None:
        """Switch the per-request memory savers (VAE slicing, tiling) for one request's size and count."""
        ...

    def compile_denoiser(self, denoiser: Any, **options: Any) -> None:
        """torch.compile the denoiser in place (`options` go to torch.compile)."""
        ...

    def recipe(self, text_length: int | None = None) -> Recipe:
        """How a LoRA of the family trains (`text_length`: the model's T5 prompt length, where it has one)."""
        ...

    def kohya_keys(self, peft_state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor] | None:
        """A trained LoRA in kohya's key layout; None: the UNet layout diffusers converts (engine.training.export)."""
        ...

    def offload_text_encoder(self, pipe: Any, device: str) -> bool:
        """Let the large text encoder wait in host memory while the denoiser trains; False where there is none."""
        ...

    def memory_note(self, preset: ModelPreset) -> str | None:
        """For /models: the free GPU memory from which each way of holding the model runs; None: nothing to say."""
        ...


class FamilyDefaults:
    """The plain answers of the `Family` members most families share: a family class inherits them and states only
    what it does differently (no settings of its own, no extra loading or call arguments, no text encoder to set
    aside while it trains)."""

    extra_settings: tuple[ExtraSetting, ...] = ()

    def load_options(self) -> dict[str, Any]:
        return {}

    def call_options(self, preset: ModelPreset) -> dict[str, Any]:
        return {}

    def during_call(self, pipe: Any, extras: Mapping[str, Extra]) -> AbstractContextManager[dict[str, Any]]:
        from contextlib import nullcontext

        return nullcontext({})  # nothing to add, nothing to change

    def offload_text_encoder(self, pipe: Any, device: str) -> bool:
        return False


def place_whole(base: Any, preset: ModelPreset, *, weights_gb: float, free_gb: float | None, device: str) -> Placement:
    """The plain placement: on the device whole, or offloaded by the pipeline's memory plan (engine.diffusion.device).

    The plan is for a typical job (four images at the default size): offload must be chosen before the weights move,
    and only the VAE switches change per request afterwards (`fit_whole`).
    """
    from engine.diffusion import device as memory

    width, height = preset.default_size
    plan = memory.plan_memory(weights_gb, free_gb, width, height, 4)
    if plan.cpu_offload == "none":
        base.to(device)
    if free_gb is not None:
        memory.apply_memory_plan(base, plan, device)
    plain = plan.cpu_offload == "none"
    return Placement(plain_weights=plain, compilable=plain)


def fit_whole(
    base: Any, *, weights_gb: float, free_gb: float | None, width: int, height: int, count: int, device: str
) -> None:
    """The VAE switches of the memory plan for this request (offload stays as loading chose it); none on the CPU."""
    if free_gb is None:
        return
    from dataclasses import replace

    from engine.diffusion import device as memory

    plan = memory.plan_memory(weights_gb, free_gb, width, height, count)
    memory.apply_memory_plan(base, replace(plan, cpu_offload="none"), device)


def transformer_from_file(
    transformer_class: Any, pipeline_class: Any, path: Path, config: str, *, dtype: Any, local_only: bool
) -> Any:
    """A transformer family's pipeline whose denoiser is shared as one file: the rest comes from the hub folder
    `config` (its text encoders, VAE and scheduler), as ComfyUI and BFL distribute them."""
    transformer = transformer_class.from_single_file(
        str(path), config=config, subfolder="transformer", dtype=dtype, local_files_only=local_only
    )
    return pipeline_class.from_pretrained(
        config, transformer=transformer, dtype=dtype, use_safetensors=True, local_files_only=local_only
    )
