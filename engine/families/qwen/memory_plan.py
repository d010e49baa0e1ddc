"""Where a Qwen-Image model's weights live on a given GPU: FLUX.1's planner (engine.families.flux.memory_plan) with
Qwen-Image's sizes, its Qwen2.5-VL text encoder in the place of T5.

Sizes from the model card's parameter counts in bf16 (not measured here; placement measures the loaded modules): a
20.4 B MMDiT transformer, Qwen2.5-VL-7B-Instruct (8.3 B with its vision tower) and a 127 M VAE. Activations use
FLUX.1's per-megapixel figure: true CFG runs its two passes one after the other, so it doubles the time, not the
memory. Torch-free: the catalog computes the /models note from it.
"""

from __future__ import annotations

from dataclasses import replace

from engine.families.flux.memory_plan import QUANT_FACTOR, FluxPlan, FluxSizes, plan_flux_memory

GB_PER_B_PARAMS = 2 / 1.073741824  # bf16: 2 bytes a parameter, in GiB per billion
QWEN_IMAGE = FluxSizes(20.4 * GB_PER_B_PARAMS, 8.3 * GB_PER_B_PARAMS, 0.127 * GB_PER_B_PARAMS)
NATIVE_SIDE = 1328  # the model card's square size
LABEL = "Qwen-Image"


def plan_qwen_memory(free_gb: float | None, **options: object) -> FluxPlan:
    """FLUX.1's plan for Qwen-Image's sizes (`options` as plan_flux_memory's); a refusal names Qwen-Image."""
    plan = plan_flux_memory(free_gb, **options)  # type: ignore[arg-type]
    if plan.placement == "refused":
        return replace(plan, reason=plan.reason.replace("FLUX.1", LABEL).replace("an SD model", "a smaller model"))
    return plan


def note(sizes: FluxSizes = QWEN_IMAGE, side: int = NATIVE_SIDE) -> str:
    """For /models: the free GPU memory from which each way of holding the model runs one side×side image."""
    everything = plan_flux_memory(1e6, width=side, height=side, sizes=sizes).need_gb  # all resident: its peak
    waiting = everything - sizes.t5_gb
    quantized = waiting - sizes.transformer_gb * (1 - QUANT_FACTOR["fp8"])
    return (
        f"bf16 from ~{everything:.0f} GB free, with the text encoder waiting on the CPU from ~{waiting:.0f} GB, "
        f"int8/fp8 from ~{quantized:.0f} GB ({side}² image)"
    )
