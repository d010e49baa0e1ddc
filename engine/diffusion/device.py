"""Device, dtype and memory-saving choices for the diffusion pipelines."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

import torch

from engine.errors import EngineError

log = logging.getLogger(__name__)

Offload = Literal["none", "model", "sequential"]
DEVICE_SETTINGS = ("auto", "cuda", "cpu")

# Rough peak working-memory estimates (GB per megapixel per image, half precision, SDPA attention),
# deliberately on the safe side: a wrong guess costs speed, an OOM costs the job.
UNET_GB_PER_MP = 0.6  # UNet activations for one image, classifier-free guidance included
VAE_DECODE_GB_PER_MP = 2.5  # the VAE decoder's full-resolution activations dominate
VAE_TILE_MP = 512 * 512 / 1e6  # diffusers decodes tiles of about 512² pixels
UNET_SHARE_OF_MODEL = 0.7  # with model offload only the largest component (the UNet) sits on the GPU
HEADROOM_GB = 0.75  # allocator fragmentation, scheduler tensors, the decoded images


_OFFLOAD_RANK: dict[str, int] = {"none": 0, "model": 1, "sequential": 2}


class DeviceError(EngineError, ValueError):
    """The device setting (STUDIO_DEVICE) cannot be honoured on this machine; the message says what to set."""


def choose_device(setting: str = "auto") -> str:
    """Resolve the `device` setting: 'auto' picks 'cuda' when torch sees a GPU, else 'cpu'."""
    value = setting.strip().lower()
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value == "cpu":
        return "cpu"
    if re.fullmatch(r"cuda(:\d+)?", value):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"STUDIO_DEVICE={setting} but torch sees no CUDA GPU (a CPU build of torch, or no driver?): "
                "set STUDIO_DEVICE=auto or cpu"
            )
        index = int(value.split(":")[1]) if ":" in value else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"STUDIO_DEVICE={setting} names a GPU that does not exist: torch sees {torch.cuda.device_count()} "
                "GPU(s), numbered from 0"
            )
        return value
    raise DeviceError(
        f"unknown device {setting!r} in STUDIO_DEVICE: use one of {', '.join(DEVICE_SETTINGS)} (or cuda:N)"
    )


def gpu_total_gb(setting: str = "auto") -> float | None:
    """The total memory of the GPU the `device` setting picks, in GB; None when the engine runs on the CPU."""
    device = choose_device(setting)
    if not device.startswith("cuda"):
        return None
    index = int(device.split(":")[1]) if ":" in device else 0
    return float(torch.cuda.get_device_properties(index).total_memory) / 1e9


def memory_and_precision(setting: str = "auto") -> tuple[float | None, str]:
    """The GPU's memory in GB (None on the CPU) and the precision the engine loads weights in: bf16, fp16 or
    "no" (fp32), as a training plan states them."""
    dtype = choose_dtype(choose_device(setting))
    return gpu_total_gb(setting), {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "no")


def module_gb(module: Any) -> float:
    """The size of a torch module's parameters and buffers in GiB (0 for anything that is not a module)."""
    if not isinstance(module, torch.nn.Module):
        return 0.0
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**30


def choose_dtype(device: str) -> torch.dtype:
    """bfloat16 on a GPU that supports it, else float16 on CUDA; float32 on the CPU."""
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Which memory savers to switch on for one run, and why."""

    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: Offload = "none"
    reason: str = ""

    @property
    def level(self) -> int:
        """0 (nothing) … 4 (sequential offload): how much speed the plan trades for memory."""
        if self.cpu_offload == "sequential":
            return 4
        if self.cpu_offload == "model":
            return 3
        return 2 if self.vae_tiling else int(self.vae_slicing)


def _vae_gb(megapixels: float) -> float:
    return VAE_DECODE_GB_PER_MP * megapixels


def plan_memory(model_vram_gb: float, free_vram_gb: float | None, width: int, height: int, count: int) -> MemoryPlan:
    """Pick the cheapest memory savers under which the estimated peak fits in `free_vram_gb`.

    `model_vram_gb` is the size of all pipeline weights at the run dtype; `free_vram_gb` is what
    the GPU has free before loading them (None when unknown, e.g. on the CPU). Pure function.
    """
    if model_vram_gb < 0 or (free_vram_gb is not None and free_vram_gb < 0):
        raise ValueError("memory sizes must not be negative")
    if width <= 0 or height <= 0 or count <= 0:
        raise ValueError(f"width, height and count must be positive, got {width}x{height}x{count}")
    if free_vram_gb is None:
        return MemoryPlan(reason="free GPU memory unknown (CPU run): no memory savers")

    mp = width * height / 1e6
    unet = UNET_GB_PER_MP * mp * count
    vae_batch, vae_one, vae_tile = _vae_gb(mp * count), _vae_gb(mp), _vae_gb(min(mp, VAE_TILE_MP))
    free = free_vram_gb
    size = f"{count}×{width}x{height}"

    def need(weights: float, vae: float) -> float:
        return weights + unet + vae + HEADROOM_GB

    full = need(model_vram_gb, vae_batch)
    if full <= free:
        return MemoryPlan(reason=f"{size} needs ~{full:.1f} GB of {free:.1f} GB free: no memory savers")
    if count > 1 and need(model_vram_gb, vae_one) <= free:
        return MemoryPlan(
            vae_slicing=True,
            reason=f"{size} needs ~{full:.1f} GB of {free:.1f} GB free: VAE slicing decodes one image at a time",
        )
    if need(model_vram_gb, vae_tile) <= free:
        return MemoryPlan(
            vae_slicing=count > 1,
            vae_tiling=True,
            reason=f"{size} needs ~{full:.1f} GB of {free:.1f} GB free: VAE tiling decodes in tiles",
        )
    resident = UNET_SHARE_OF_MODEL * model_vram_gb
    if need(resident, vae_tile) <= free:
        return MemoryPlan(
            vae_slicing=count > 1,
            vae_tiling=True,
            cpu_offload="model",
            reason=(
                f"weights ({model_vram_gb:.1f} GB) and {size} do not fit in {free:.1f} GB free: "
                "model CPU offload keeps one component on the GPU at a time"
            ),
        )
    return MemoryPlan(
        vae_slicing=count > 1,
        vae_tiling=True,
        cpu_offload="sequential",
        reason=(
            f"even one component ({resident:.1f} GB) with {size} exceeds {free:.1f} GB free: "
            "sequential CPU offload streams weights layer by layer (slow)"
        ),
    )


def apply_memory_plan(pipe: Any, plan: MemoryPlan, device: str = "cuda") -> None:
    """Switch the pipeline's VAE slicing/tiling and CPU offload to match `plan`.

    Slicing and tiling are toggled both ways, so a plan can be applied per request. Offload is
    installed when first needed and upgraded from model to sequential, never removed. Call on
    the worker thread.
    """
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        # diffusers 0.42 moved these switches from the pipeline to the VAE.
        (vae.enable_slicing if plan.vae_slicing else vae.disable_slicing)()
        (vae.enable_tiling if plan.vae_tiling else vae.disable_tiling)()
    # Offload hooks are only ever strengthened: dropping them would move every weight back to
    # the GPU at once, which is what the earlier, tighter plan avoided.
    current: Offload = getattr(pipe, "_studio_offload", "none")
    if _OFFLOAD_RANK[plan.cpu_offload] > _OFFLOAD_RANK[current]:
        if current != "none":
            pipe.remove_all_hooks()
        if plan.cpu_offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
        pipe._studio_offload = plan.cpu_offload
    elif plan.cpu_offload != current:
        log.info("Keeping %s CPU offload installed (plan asked for %s)", current, plan.cpu_offload)
    log.info(
        "Memory plan: vae_slicing=%s vae_tiling=%s cpu_offload=%s (%s)",
        plan.vae_slicing,
        plan.vae_tiling,
        plan.cpu_offload,
        plan.reason,
    )
