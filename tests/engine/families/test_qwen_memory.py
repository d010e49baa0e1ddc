"""Qwen-Image's memory plan (FLUX.1's planner with its sizes): whole on an 80 GB card, its text encoder waiting on
the CPU on a 48 GB one, the transformer in 8 bits on 32 GB, streamed below, refused where nothing fits."""

from __future__ import annotations

import pytest

from engine.families.qwen.memory_plan import QWEN_IMAGE, note, plan_qwen_memory

SIDE = 1328  # the preset's default size


@pytest.mark.parametrize(
    ("free_gb", "placement", "text_encoder"),
    [
        (78.0, "resident", "resident"),
        (46.0, "resident", "offload"),
        (45.6, "model_offload", "offload"),
        (30.0, "quantized", "offload"),
        (12.0, "group_offload", "offload"),
    ],
)
def test_the_plan_holds_the_model_by_the_free_memory(free_gb, placement, text_encoder) -> None:
    plan = plan_qwen_memory(free_gb, width=SIDE, height=SIDE, count=1, sizes=QWEN_IMAGE, torchao=True)
    assert (plan.placement, plan.t5) == (placement, text_encoder)
    assert plan.need_gb <= free_gb


def test_a_card_too_small_even_to_stream_it_is_refused_naming_the_model() -> None:
    plan = plan_qwen_memory(6.0, width=SIDE, height=SIDE, count=1, sizes=QWEN_IMAGE)
    assert plan.placement == "refused"
    assert plan.reason.startswith("Qwen-Image does not fit in 6.0 GB") and "FLUX" not in plan.reason
    assert "a smaller model" in plan.reason


def test_the_models_note_grows_with_the_size_it_is_for() -> None:
    assert note() != note(side=1024)
    assert note().endswith("(1328² image)") and "text encoder waiting on the CPU" in note()
