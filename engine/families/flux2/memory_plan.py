"""Where a FLUX.2 [klein] model's weights live on a given GPU: FLUX.1's planner (engine.families.flux.memory_plan)
with klein's sizes, its Qwen3 text encoder in the place of T5.

Sizes from the model cards' parameter counts in bf16 (not measured here; placement measures the loaded modules):
klein 4B is a 4 B transformer prompted through Qwen3-4B, klein 9B a 9 B transformer through Qwen3-8B; the VAE is
small. Activations use FLUX.1's per-megapixel figure, on the safe side for a narrower transformer.
"""

from __future__ import annotations

from dataclasses import replace

from engine.families.flux.memory_plan import QUANT_FACTOR, FluxPlan, FluxSizes, plan_flux_memory

GB_PER_B_PARAMS = 2 / 1.073741824  # bf16: 2 bytes a parameter, in GiB per billion
KLEIN_SIZES: dict[str, FluxSizes] = {
    # (transformer, Qwen3 text encoder, VAE) in GiB
    "4b": FluxSizes(4.0 * GB_PER_B_PARAMS, 4.0 * GB_PER_B_PARAMS, 0.2),
    "9b": FluxSizes(9.0 * GB_PER_B_PARAMS, 8.2 * GB_PER_B_PARAMS, 0.2),
}
LABEL = "FLUX.2 [klein]"


def plan_klein_memory(free_gb: float | None, **options: object) -> FluxPlan:
    """FLUX.1's plan for these sizes (`options` as plan_flux_memory's); a refusal names klein, not FLUX.1."""
    plan = plan_flux_memory(free_gb, **options)  # type: ignore[arg-type]
    if plan.placement == "refused":
        return replace(plan, reason=plan.reason.replace("FLUX.1", LABEL))
    return plan


def note(sizes: FluxSizes, references: int) -> str:
    """For /models: the free GPU memory from which each way of holding the model runs a 1024² image."""

    def need(transformer_factor: float, text_encoder: bool) -> float:
        plan = plan_flux_memory(1e6, references=references, sizes=sizes)  # everything resident: its need_gb
        te = 0.0 if text_encoder else sizes.t5_gb
        return plan.need_gb - sizes.transformer_gb * (1 - transformer_factor) - te

    return (
        f"bf16 from ~{need(1.0, True):.0f} GB free, with the text encoder waiting on the CPU from "
        f"~{need(1.0, False):.0f} GB, int8/fp8 from ~{need(QUANT_FACTOR['fp8'], False):.0f} GB"
    )
