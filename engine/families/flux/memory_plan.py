"""Where a 12 B FLUX.1 model's weights live on a given GPU: the plan, as a pure function of free memory.

Sizes (flux notes §6, built on the meta device): the transformer is 11.9 B parameters, 22.2 GiB in bf16 and half
that in fp8 or int8; T5-XXL 8.9 GiB; CLIP-L and the VAE 0.4 GiB together. Activations are estimates on the safe
side: a wrong guess costs speed, an out-of-memory costs the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TRANSFORMER_GB = 22.2  # bf16
T5_GB = 8.9  # bf16
SMALL_GB = 0.4  # CLIP-L and the VAE, always resident
QUANT_FACTOR = {"none": 1.0, "fp8": 0.5, "int8": 0.5, "nf4": 0.3}  # nf4 keeps norms and embeddings in bf16
# Working memory per image per megapixel (transformer activations at 4096 + 512 tokens, attention by SDPA),
# and the VAE decoder's, which dominates unless sliced.
ACTIVATION_GB_PER_MP = 1.2
VAE_GB_PER_MP = 2.5
HEADROOM_GB = 1.0
GROUP_BLOCK_GB = 0.7  # one double block (340 M parameters) in bf16, with its transfer buffers: group offload

Placement = Literal["resident", "model_offload", "quantized", "group_offload", "refused"]
Quantization = Literal["none", "fp8", "int8", "nf4"]
TextEncoder = Literal["resident", "offload"]


@dataclass(frozen=True, slots=True)
class FluxSizes:
    """The weights of one FLUX pipeline in GB: measured once loaded; the full-size model's by default."""

    transformer_gb: float = TRANSFORMER_GB
    t5_gb: float = T5_GB
    small_gb: float = SMALL_GB


FULL_SIZE = FluxSizes()


@dataclass(frozen=True, slots=True)
class FluxPlan:
    """How to hold the model: where its transformer lives, in what precision, and where T5 waits between prompts."""

    placement: Placement
    quantization: Quantization = "none"
    t5: TextEncoder = "resident"
    need_gb: float = 0.0  # the estimated peak on the GPU under this plan
    reason: str = ""

    @property
    def summary(self) -> str:
        """One line for /models and the logs."""
        if self.placement == "refused":
            return self.reason
        parts = {
            "resident": "bf16 on the GPU",
            "model_offload": "bf16, each component moved to the GPU in turn (model CPU offload)",
            "quantized": f"transformer in {self.quantization}",
            "group_offload": "bf16, streamed to the GPU block by block (group offload, slow)",
        }[self.placement]
        text_encoder = ", T5 waits on the CPU" if self.t5 == "offload" else ""
        return f"{parts}{text_encoder} (~{self.need_gb:.0f} GB)"


def _work_gb(width: int, height: int, count: int, references: int = 0) -> float:
    # Kontext appends the reference image's tokens to the sequence: its activations grow with them (not the VAE's).
    megapixels = width * height / 1e6
    return ACTIVATION_GB_PER_MP * megapixels * count * (1 + references) + VAE_GB_PER_MP * megapixels + HEADROOM_GB


def plan_flux_memory(
    free_gb: float | None,
    *,
    width: int = 1024,
    height: int = 1024,
    count: int = 1,
    references: int = 0,
    torchao: bool = False,
    bitsandbytes: bool = False,
    host_ram_gb: float | None = None,
    sizes: FluxSizes = FULL_SIZE,
) -> FluxPlan:
    """The cheapest plan whose estimated peak fits in `free_gb` (None: a CPU run, everything where it is).

    In order: all resident in bf16; T5 on the CPU between prompts; model CPU offload (the bf16 transformer alone
    on the GPU); the transformer in int8 (`torchao` installed: one scale per row, a quarter of fp8's rounding error,
    scripts/bench_quant_error.py) or else stored in fp8 (computed in bf16, any GPU), then nf4 (`bitsandbytes`
    installed); group offload; else refused. Offloading needs the weights in host
    RAM (`host_ram_gb`, None: unknown, assumed enough). The VAE decodes one image at a time (slicing) throughout.
    """
    transformer_gb, t5_gb, small_gb = sizes.transformer_gb, sizes.t5_gb, sizes.small_gb
    if width <= 0 or height <= 0 or count <= 0:
        raise ValueError(f"width, height and count must be positive, got {width}x{height}x{count}")
    if free_gb is None:
        return FluxPlan("resident", reason="CPU run: the weights stay in host memory")
    work = _work_gb(width, height, count, references)
    size = f"{count}×{width}x{height}"
    everything = transformer_gb + t5_gb + small_gb + work
    if everything <= free_gb:
        return FluxPlan("resident", need_gb=everything, reason=f"{size} needs ~{everything:.0f} GB of {free_gb:.0f}")
    host_ok = host_ram_gb is None or host_ram_gb >= transformer_gb + t5_gb + 4
    without_t5 = transformer_gb + small_gb + work
    if without_t5 <= free_gb and host_ok:
        return FluxPlan(
            "resident", t5="offload", need_gb=without_t5, reason=f"T5 ({t5_gb:.0f} GB) waits on the CPU: {size}"
        )
    if transformer_gb + work <= free_gb and host_ok:
        return FluxPlan(
            "model_offload", t5="offload", need_gb=transformer_gb + work, reason="one component on the GPU at a time"
        )
    quantizations: list[Quantization] = ["int8" if torchao else "fp8"]
    if bitsandbytes:
        quantizations.append("nf4")
    for quantization in quantizations:
        need = transformer_gb * QUANT_FACTOR[quantization] + small_gb + work
        if need <= free_gb and host_ok:
            return FluxPlan(
                "quantized", quantization, t5="offload", need_gb=need, reason=f"the bf16 weights do not fit {size}"
            )
    streamed = GROUP_BLOCK_GB + small_gb + work
    if streamed <= free_gb and host_ok:
        return FluxPlan("group_offload", t5="offload", need_gb=streamed, reason="block-level group offload")
    if not host_ok:
        return FluxPlan(
            "refused",
            reason=(
                f"FLUX.1 does not fit: {free_gb:.0f} GB free on the GPU and {host_ram_gb:.0f} GB of RAM, where "
                f"offloading needs about {transformer_gb + t5_gb + 4:.0f} GB. Use an SD model, or a machine with "
                "more memory."
            ),
        )
    return FluxPlan(
        "refused",
        reason=(
            f"FLUX.1 does not fit in {free_gb:.1f} GB of free GPU memory, even streamed block by block "
            f"(~{streamed:.1f} GB for {size}). Use a smaller size or an SD model."
        ),
    )


def smallest_gpu_for(plan: Placement, quantization: Quantization = "none", references: int = 0) -> float:
    """The free GPU memory (GB) from which a 1024² image (with `references` context images: Kontext) runs under
    `plan`: the thresholds /models shows."""
    work = _work_gb(1024, 1024, 1, references)
    return {
        "resident": TRANSFORMER_GB + T5_GB + SMALL_GB + work,
        "model_offload": TRANSFORMER_GB + work,
        "quantized": TRANSFORMER_GB * QUANT_FACTOR[quantization] + SMALL_GB + work,
        "group_offload": GROUP_BLOCK_GB + SMALL_GB + work,
        "refused": 0.0,
    }[plan]
