"""Prior preservation: on by default for tiny-world, opt-in elsewhere; the base model's own images, drawn once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.catalog import get_preset
from engine.host import EngineConfig, EngineHost
from engine.training.autoconfig import plan_training
from engine.training.prior import FOLDER, prior_prompts, without_trigger
from engine.training.types import TrainConfig, TrainItem
from tests.engine.training_support import make_task, planted_images, run_training


def _plan(model: str, **overrides):
    return plan_training(get_preset(model), images=20, overrides=overrides, gpu_gb=None, precision="no")


def test_tiny_world_preserves_its_world_and_other_models_only_when_asked() -> None:
    world = _plan("tiny-world")
    assert world.config.prior_images == 40 and world.sources["prior_images"] == "preset"
    # The world's own scene captions, without any trigger: what the base model keeps drawing.
    assert len(world.config.prior_prompts) == 40 and all(" background" in p or " in the " in p or "two " in p
                                                         for p in world.config.prior_prompts)  # fmt: skip
    without = _plan("tiny-world", prior_images=0)
    assert without.config.prior_images == 0 and without.sources["prior_images"] == "you"
    assert world.samples == 2 * without.samples  # a prior image beside every image of the set
    assert world.estimate_s > without.estimate_s
    real = _plan("sd15")
    assert real.config.prior_images == 0 and real.config.prior_prompts == ()
    asked = _plan("sd15", prior_images=50)
    assert asked.config.prior_images == 50 and asked.sources["prior_images"] == "you"


def test_a_model_without_prior_prompts_asks_for_the_sets_captions_without_the_trigger() -> None:
    assert without_trigger("zorp, a red ring on a blue background", "zorp") == "a red ring on a blue background"
    assert without_trigger("Zorp, smiling, zorpish hat", "zorp") == "smiling, zorpish hat"
    items = (TrainItem(Path("a.png"), "zorp, smiling"), TrainItem(Path("b.png"), "zorp, in a park"))
    config = TrainConfig(steps=1, prior_images=3)
    assert prior_prompts(config, items, "zorp") == ["smiling", "in a park", "smiling"]
    assert prior_prompts(TrainConfig(steps=1), items, "zorp") == []
    fixed = TrainConfig(steps=1, prior_images=2, prior_prompts=("a red circle",))
    assert prior_prompts(fixed, items, "zorp") == ["a red circle", "a red circle"]


@pytest.mark.slow
def test_the_prior_images_are_the_base_models_own_and_train_beside_the_set(manager, tmp_path) -> None:
    import torch

    from engine.diffusion.schedulers import make_scheduler

    host = EngineHost(EngineConfig(), manager_factory=lambda: manager)
    items = planted_images(tmp_path / "set", 2, sizes=False)
    task = make_task(tmp_path / "run", items, steps=4, prior_images=2, learning_rate=1e-2)
    off = make_task(tmp_path / "off", items, steps=4, learning_rate=1e-2)
    outcome, _ = run_training(host, task)
    plain, _ = run_training(host, off)
    assert outcome.losses != plain.losses  # the prior images took part (their draws, their loss)
    drawn = [np.asarray(Image.open(tmp_path / "run" / FOLDER / f"{i:04d}.png")) for i in range(2)]
    assert not (tmp_path / "off" / FOLDER).exists()

    # The same prompts and seeds through the base pipeline, every adapter off: the same images.
    pipe = manager.pipeline(task.model)
    manager.loras(task.model).activate([])
    pipe.scheduler = make_scheduler(task.model.preset.scheduler, pipe.scheduler.config)
    prompts = [without_trigger(item.caption, "zzchar") for item in items]
    generators = [torch.Generator("cpu").manual_seed(task.config.seed + 1_000_000 + i) for i in range(2)]
    steps, guidance = task.config.sample_steps, task.model.preset.guidance
    again = pipe(prompt=prompts, num_inference_steps=steps, guidance_scale=guidance, width=64, height=64,
                 generator=generators).images  # fmt: skip
    for mine, theirs in zip(drawn, again, strict=True):
        assert np.abs(mine.astype(int) - np.asarray(theirs).astype(int)).max() <= 1
    assert np.abs(drawn[0].astype(int) - drawn[1].astype(int)).max() > 10  # two different images, not one blank
