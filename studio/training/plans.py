"""A run's plan as stored in `training_runs.plan`: the config, where each value came from, the images."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from engine import TrainConfig, TrainPlan


def plan_to_json(
    plan: TrainPlan, items: Sequence[tuple[str, str]], lineage: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    config = dataclasses.asdict(plan.config)
    config["sample_prompts"] = list(plan.config.sample_prompts)
    return {
        "v": 1,
        "config": config,
        "sources": dict(plan.sources),
        "images": plan.images,
        "samples": plan.samples,
        "estimate_s": plan.estimate_s,
        "disk_bytes": plan.disk_bytes,
        "memory_gb": plan.memory_gb,
        "budget_gb": plan.budget_gb,
        "items": [list(item) for item in items],
        "lineage": dict(lineage),
        **extra,
    }


def config_from_plan(plan: Mapping[str, Any]) -> TrainConfig:
    values = dict(plan["config"])
    values["sample_prompts"] = tuple(values.get("sample_prompts", ()))
    return TrainConfig(**values)
