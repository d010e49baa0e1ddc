"""How fast a loaded pipeline runs: memory layouts, fused attention projections, compilation and fp8 compute.

Levels (`STUDIO_OPTIMIZE`), each adding to the one before:
- `off`: the pipeline as diffusers builds it.
- `auto` (default): on a GPU, channels-last layouts and fused QKV projections while no LoRA runs; exact, free.
  On the CPU nothing (the tiny test models gain nothing).
- `compile`: the same anywhere, plus torch.compile on CUDA (regional for FLUX: its 57 alike blocks compile once).
  The first job of each new size waits for the compiler.
- `max`: plus fp8 compute for a denoiser held in bf16 whose family allows it (FLUX.1), on GPUs with fp8 units
  (Ada, Hopper) when torchao is installed. Faster, and lossy: images differ slightly from bf16 ones.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, cast, get_args

import torch

from engine.diffusion.quantize import fp8_compute, fp8_compute_refusal
from engine.families.registry import denoiser, family_of

log = logging.getLogger(__name__)

Optimize = Literal["off", "auto", "compile", "max"]
LEVELS: tuple[str, ...] = get_args(Optimize)


def optimize_level(value: bool | str) -> Optimize:
    """A level from a setting; True and False (the benchmarks' older switch) mean `compile` and `off`."""
    if isinstance(value, bool):
        return "compile" if value else "off"
    if value not in LEVELS:
        raise ValueError(f"optimize must be one of {', '.join(LEVELS)}, got {value!r}")
    return cast(Optimize, value)


def effective_level(level: Optimize, device: torch.device) -> Optimize:
    """`auto` is `off` on the CPU; every other level is what it says."""
    return "off" if level == "auto" and device.type != "cuda" else level


def optimize_pipeline(
    base: Any, family: str, level: Optimize, device: torch.device, *, plain_weights: bool, compilable: bool
) -> bool:
    """Speed `base` up in place as `level` says; returns whether its QKV projections may be fused.

    `plain_weights`: the denoiser's weights are ordinary tensors on the device (no offload hooks, no quantized
    storage): only then can projections be fused or fp8 compute be applied. `compilable`: no hook that torch.compile
    cannot trace whole sits in its forward (offloading and fp8 storage add such hooks; int8 and nf4 layers do not).
    """
    level = effective_level(level, device)
    if level == "off":
        return False
    kind = family_of(family)
    if kind.convolutional:  # a transformer has no convolutions to lay out
        denoiser(base, family).to(memory_format=torch.channels_last)
    # Asked of the VAE itself: a causal-3D VAE (Qwen-Image's) has 5-D convolutions, which channels_last cannot lay out.
    if all(weight.dim() < 5 for weight in base.vae.parameters()):
        base.vae.to(memory_format=torch.channels_last)
    # Not every denoiser class offers fused projections (Z-Image's transformer does not): ask the module itself.
    fusable = plain_weights and hasattr(denoiser(base, family), "fuse_qkv_projections")
    if level == "max" and kind.computes_in_fp8 and plain_weights:
        refusal = fp8_compute_refusal(device)
        if refusal is None:
            fp8_compute(base.transformer)
            base._studio_fp8_compute = True
            fusable = False  # fused QKV would have to be undone for a LoRA, which quantized weights cannot
            log.info("The %s %s computes in fp8 (torchao)", kind.label, kind.denoiser_name)
        else:
            log.info("The %s %s stays in its precision: %s", kind.label, kind.denoiser_name, refusal)
    if fusable:
        set_qkv_fused(base, family, fused=True)
    if level in ("compile", "max") and _compiles_on(device):
        if compilable:
            compile_denoiser(base, family)
        else:
            log.info("The %s model is not compiled: its weights are offloaded or cast layer by layer", family)
    return fusable


def _compiles_on(device: torch.device) -> bool:
    """torch.compile pays off on CUDA; on the CPU the tiny models gain nothing from it."""
    return device.type == "cuda"


def compile_denoiser(base: Any, family: str, **options: Any) -> None:
    """torch.compile the denoiser in place (`options` go to torch.compile: the tests trace with another backend).

    In place, the module object stays, so from_pipe variants and LoRA adapters still share it.
    """
    family_of(family).compile_denoiser(denoiser(base, family), **options)


def computes_in_fp8(base: Any) -> bool:
    """Whether `max` turned the pipeline's transformer to fp8 compute (a training reloads it exact)."""
    return bool(getattr(base, "_studio_fp8_compute", False))


def set_qkv_fused(base: Any, family: str, *, fused: bool) -> None:
    """Fuse (or split again) the denoiser's attention projections: one matmul instead of three."""
    model = denoiser(base, family)
    if fused:
        model.fuse_qkv_projections()
    else:
        model.unfuse_qkv_projections()
