"""`StoredPlan`: what a run's plan stores round-trips, the v1 rows written before read with the values they showed,
and a plan this code cannot read is refused with what to do."""

from __future__ import annotations

from typing import Any

import pytest

from engine import TrainConfig
from studio.errors import StudioError
from studio.jobs.kind import RequestVersionError
from studio.training.plans import SizedFor, StoredPlan

# A v1 plan as `plan_to_json` wrote it once the run had started: its items, and the keys it added over time.
V1: dict[str, Any] = {
    "v": 1,
    "config": {"steps": 40, "rank": 8, "alpha": 8.0, "sample_prompts": ["zz, a face"], "prior_prompts": []},
    "sources": {"steps": "you", "rank": "you", "batch_size": "preset"},
    "images": 6,
    "samples": 40,
    "estimate_s": 95.0,
    "disk_bytes": 12_000_000,
    "memory_gb": 7.5,
    "budget_gb": 22.0,
    "items": [["/runs/3/data/001.png", "zz, a face"], ["/runs/3/data/002.png", "zz, a hat"]],
    "lineage": {"set": "mila", "images": 6, "pickers": "1,2", "retrain_of": "mila"},
    "requested_name": "mila",
    "model_name": "mila-v2",
    "worker": {"name": "local", "device": "cuda:0", "gpu": "GPU 24 GB", "gpu_memory_gb": 24.0, "precision": "bf16"},
    "guess_s": 4.5,
    "estimate_basis": "from the last run's pace",
    "estimate_range": [80.0, 110.0],
    "below_minimum": 8,
}


def test_a_v1_plan_reads_with_every_value_it_held() -> None:
    plan = StoredPlan.from_json(V1)
    assert plan.config == TrainConfig(steps=40, rank=8, alpha=8.0, sample_prompts=("zz, a face",))
    assert (plan.images, plan.samples, plan.disk_bytes, plan.memory_gb, plan.budget_gb) == (
        6,
        40,
        12_000_000,
        7.5,
        22.0,
    )
    assert (plan.guess_s, plan.estimate_s, plan.estimate_range) == (4.5, 95.0, (80.0, 110.0))
    assert plan.estimate_basis == "from the last run's pace" and plan.below_minimum == 8
    assert (plan.requested_name, plan.model_name) == ("mila", "mila-v2")
    assert plan.worker == SizedFor("local", "cuda:0", "GPU 24 GB", 24.0, "bf16")
    assert plan.lineage == {"set": "mila", "images": "6", "pickers": "1,2", "retrain_of": "mila"}  # as the file's
    assert (plan.source_of("steps"), plan.source_of("resolution"), plan.source_of("x", "memory")) == (
        "you",
        "preset",
        "memory",
    )


def test_a_v1_plan_made_before_the_later_keys_shows_what_it_showed_then() -> None:
    early = {k: v for k, v in V1.items() if k not in ("worker", "guess_s", "estimate_range", "estimate_basis")}
    del early["requested_name"], early["model_name"], early["below_minimum"], early["lineage"]
    plan = StoredPlan.from_json(early | {"memory_gb": None, "budget_gb": None})
    assert plan.worker is None and plan.requested_name is None and plan.below_minimum is None
    assert (plan.guess_s, plan.estimate_range, plan.estimate_basis) == (95.0, (95.0, 95.0), "")  # the estimate alone
    assert plan.memory_gb is None and plan.lineage == {}


def test_a_plan_round_trips_without_its_images() -> None:
    plan = StoredPlan.from_json(V1)
    data = plan.to_json()
    assert data["v"] == StoredPlan.VERSION == 2 and "items" not in data
    assert data["config"]["sample_prompts"] == ["zz, a face"]  # JSON lists, as v1 wrote them
    assert StoredPlan.from_json(data) == plan
    forced = StoredPlan.from_json(data | {"below_minimum": None})
    assert "below_minimum" not in forced.to_json()  # written only when the owner forced a run


def test_a_config_key_no_field_has_any_more_is_left_out() -> None:
    plan = StoredPlan.from_json(V1 | {"config": V1["config"] | {"retired_knob": 3}})
    assert plan.config == StoredPlan.from_json(V1).config


def test_a_newer_plan_is_refused_with_what_to_do() -> None:
    with pytest.raises(RequestVersionError, match="newer version of the bot"):
        StoredPlan.from_json(V1 | {"v": StoredPlan.VERSION + 1})


@pytest.mark.parametrize("missing", ["config", "sources", "images", "samples", "estimate_s", "disk_bytes"])
def test_an_incomplete_plan_is_refused_with_what_to_do(missing: str) -> None:
    broken = {k: v for k, v in V1.items() if k != missing}
    with pytest.raises(StudioError, match="stored plan is incomplete; plan it again"):
        StoredPlan.from_json(broken)
