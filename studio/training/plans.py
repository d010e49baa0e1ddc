"""A run's plan as stored in `training_runs.plan`: the config, where each value came from (the images it trains on
are rows of `training_run_items` since migration 0010)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from engine import TrainConfig, TrainPlan


def plan_to_json(plan: TrainPlan, lineage: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    config = dataclasses.asdict(plan.config)
    config["sample_prompts"] = list(plan.config.sample_prompts)
    config["prior_prompts"] = list(plan.config.prior_prompts)
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
        "lineage": dict(lineage),
        **extra,
    }


def config_from_plan(plan: Mapping[str, Any]) -> TrainConfig:
    values = dict(plan["config"])
    values["sample_prompts"] = tuple(values.get("sample_prompts", ()))
    values["prior_prompts"] = tuple(values.get("prior_prompts", ()))
    return TrainConfig(**values)


def prior_text(config: Mapping[str, Any]) -> str:
    """The plan's prior-preservation row: how many base-model images, drawn from what, at what weight."""
    count = int(config.get("prior_images", 0))
    if not count:
        return "off"
    prompts = config.get("prior_prompts") or []
    source = f"the model's own prompts, e.g. '{prompts[0]}'" if prompts else "the set's captions without the trigger"
    return f"{count} images the base model draws from {source}; weight {config.get('prior_weight', 1.0):g}"
