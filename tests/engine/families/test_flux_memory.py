"""The FLUX.1 memory plan: which placement a given amount of free GPU memory gets (a pure function)."""

from __future__ import annotations

import pytest

from engine.families.flux.memory_plan import plan_flux_memory, smallest_gpu_for


@pytest.mark.parametrize(
    ("free_gb", "placement", "quantization", "t5"),
    [
        (139.0, "resident", "none", "resident"),  # an H200: everything in bf16
        (40.0, "resident", "none", "resident"),  # an A100 40 GB still holds all of it
        (32.0, "resident", "none", "offload"),  # T5 waits on the CPU between prompts
        (27.3, "model_offload", "none", "offload"),  # the bf16 transformer alone, CLIP and the VAE moved in turn
        (22.0, "quantized", "fp8", "offload"),  # a 24 GB card: the transformer in fp8
        (10.0, "group_offload", "none", "offload"),  # even fp8 does not fit: streamed block by block
        (3.0, "refused", "none", "resident"),
    ],
)
def test_the_cheapest_plan_that_fits(free_gb: float, placement: str, quantization: str, t5: str) -> None:
    plan = plan_flux_memory(free_gb)
    assert (plan.placement, plan.quantization, plan.t5) == (placement, quantization, t5)
    assert plan.placement == "refused" or plan.need_gb <= free_gb


def test_torchao_makes_the_transformer_int8_and_bitsandbytes_adds_nf4() -> None:
    assert plan_flux_memory(22.0, torchao=True).quantization == "int8"
    assert plan_flux_memory(12.0).placement == "group_offload"
    nf4 = plan_flux_memory(12.0, bitsandbytes=True)
    assert (nf4.placement, nf4.quantization) == ("quantized", "nf4")


def test_bigger_and_more_images_need_more() -> None:
    assert plan_flux_memory(36.0).placement == "resident"
    assert plan_flux_memory(36.0, count=8).t5 == "offload"
    assert plan_flux_memory(36.0, width=2048, height=2048, count=4).placement != "resident"
    # Kontext's reference image joins the sequence: more activations, the same weights and VAE.
    plain, kontext = plan_flux_memory(80.0), plan_flux_memory(80.0, references=1)
    assert kontext.need_gb - plain.need_gb == pytest.approx(1.2, abs=0.1)
    assert smallest_gpu_for("resident", references=1) > smallest_gpu_for("resident")


def test_a_refusal_says_why_and_what_to_do() -> None:
    small = plan_flux_memory(2.0)
    assert small.placement == "refused" and "Use a smaller size or an SD model" in small.reason
    no_ram = plan_flux_memory(24.5, host_ram_gb=16.0)
    assert no_ram.placement == "refused" and "16 GB of RAM" in no_ram.reason
    assert plan_flux_memory(None).placement == "resident"  # a CPU run
    with pytest.raises(ValueError, match="positive"):
        plan_flux_memory(10.0, count=0)


def test_the_thresholds_agree_with_the_plan() -> None:
    for placement, quantization in (("resident", "none"), ("model_offload", "none"), ("quantized", "fp8")):
        threshold = smallest_gpu_for(placement, quantization)  # type: ignore[arg-type]
        assert plan_flux_memory(threshold + 0.01).placement in ("resident", placement)
    assert "fp8" in plan_flux_memory(22.0).summary and "T5 waits on the CPU" in plan_flux_memory(22.0).summary
