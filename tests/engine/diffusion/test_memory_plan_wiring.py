"""The pipeline manager asks the memory planner on a GPU and applies its VAE switches per request."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.catalog import ModelSpec, get_preset
from engine.diffusion import device, pipelines
from engine.diffusion.device import MemoryPlan
from engine.diffusion.pipelines import PipelineManager
from engine.types import GenerateRequest


def test_plans_apply_per_request(tiny_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    asked: list[tuple[float, float | None, int, int, int]] = []

    def fake_plan(weights_gb: float, free_gb: float | None, width: int, height: int, count: int) -> MemoryPlan:
        asked.append((weights_gb, free_gb, width, height, count))
        return MemoryPlan(vae_slicing=count > 1, vae_tiling=False, reason="test plan")

    # Pretend a GPU with 3 GiB free; the model still runs on the CPU.
    monkeypatch.setattr(pipelines, "_free_gb", lambda device: 3.0)
    monkeypatch.setattr(device, "plan_memory", fake_plan)
    manager = PipelineManager(device="cpu", cache_dir=tiny_cache)
    spec = ModelSpec.from_preset(get_preset("tiny-sd"))
    caplog.set_level(logging.INFO, logger="engine.diffusion.device")

    manager.generate(GenerateRequest(prompt="a", model="tiny-sd", count=2, seed=1, steps=1), spec)
    vae = manager.pipeline(spec).vae
    assert vae.use_slicing is True
    manager.generate(GenerateRequest(prompt="a", model="tiny-sd", count=1, seed=1, steps=1), spec)
    assert vae.use_slicing is False

    load_plan, first, second = asked
    assert load_plan[1] == 3.0 and load_plan[0] > 0  # weights measured, free memory read before loading
    assert first[2:] == (64, 64, 2) and second[4] == 1
    assert "test plan" in caplog.text


def test_no_plan_on_the_cpu(tiny_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> MemoryPlan:
        raise AssertionError("no memory plan on the CPU")

    monkeypatch.setattr(device, "apply_memory_plan", fail)
    manager = PipelineManager(device="cpu", cache_dir=tiny_cache)
    spec = ModelSpec.from_preset(get_preset("tiny-sd"))
    result = manager.generate(GenerateRequest(prompt="a", model="tiny-sd", count=1, seed=1, steps=1), spec)
    assert len(result.images) == 1
