"""Z-Image's memory plan: whole on a 24 GB card, one component at a time on a 16 GB one, streamed below."""

from __future__ import annotations

import pytest

from engine.families.zimage.memory_plan import ZIMAGE_TURBO, plan_zimage_memory, smallest_gpu_for


@pytest.mark.parametrize(
    ("free_gb", "offload", "tiling"),
    [(40.0, "none", False), (21.5, "none", True), (14.5, "model", True), (10.0, "sequential", True)],
)
def test_the_plan_holds_the_model_by_the_free_memory(free_gb, offload, tiling) -> None:
    plan = plan_zimage_memory(free_gb, width=1024, height=1024, count=1, sizes=ZIMAGE_TURBO)
    assert (plan.cpu_offload, plan.vae_tiling) == (offload, tiling)


def test_a_16_gb_card_runs_it_with_model_offload_and_not_whole() -> None:
    # A 16 GB card shows about 14.9 GiB, of which ~14.5 are free.
    assert smallest_gpu_for("model") < 14.5 < smallest_gpu_for("none")
    batch = plan_zimage_memory(14.5, width=1024, height=1024, count=4, sizes=ZIMAGE_TURBO)
    assert batch.cpu_offload == "model" and batch.vae_slicing


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        plan_zimage_memory(16.0, width=0, height=1024, count=1, sizes=ZIMAGE_TURBO)
