"""Shared pieces of the trainer's tests: planted images, a task, a context, an evaluation loss, a run, an image."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from engine.backends import ProgressEvent, WorkContext
from engine.catalog import ModelSpec, get_preset
from engine.training.data import prepare
from engine.training.recipes import recipe_for
from engine.training.types import TrainConfig, TrainItem, TrainTask

if TYPE_CHECKING:
    from engine.host import EngineHost


def planted_images(folder: Path, count: int = 6, *, sizes: bool = True) -> tuple[TrainItem, ...]:
    """One 'character' (a warm disc on a cool ground) with small differences; a few aspect ratios."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        rng = np.random.default_rng(i)
        height = 64 + (16 * (i % 3) if sizes else 0)
        yy, xx = np.mgrid[:height, :64]
        disc = (yy - height / 2) ** 2 + (xx - 32 - 2 * i) ** 2 < 18**2
        pixels = np.where(disc[..., None], [230, 140, 60], [40, 70, 160]).astype(np.float64)
        pixels += rng.normal(0, 6, pixels.shape)
        path = folder / f"{i}.png"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
        items.append(TrainItem(path, f"zzchar, a round figure, view {i}"))
    return tuple(items)


def make_task(run_dir: Path, items: tuple[TrainItem, ...], model: str = "tiny-sd", **overrides: Any) -> TrainTask:
    config = {
        "steps": 8,
        "rank": 4,
        "alpha": 2.0,  # alpha ≠ rank: exports that lose alpha would reload at the wrong strength
        "learning_rate": 2e-3,
        "batch_size": 2,
        "resolution": 64,
        "seed": 3,
        "warmup_steps": 2,
        "sample_prompts": (),
        "sample_steps": 2,
    } | overrides
    spec = ModelSpec.from_preset(get_preset(model))
    return TrainTask(spec, items, TrainConfig(**config), run_dir, "job_7", "zzchar", "zzchar", {"set": "1"})


def context(
    events: list[ProgressEvent] | None = None, on_event: Callable[[ProgressEvent], None] | None = None
) -> tuple[WorkContext, threading.Event]:
    cancel = threading.Event()
    found = events if events is not None else []

    def emit(event: ProgressEvent) -> None:
        found.append(event)
        if on_event is not None:
            on_event(event)

    return WorkContext(1, cancel, emit), cancel


def eval_loss(pipe: Any, task: TrainTask, seed: int = 99, rounds: int = 4) -> float:
    """The denoising loss on the training images at fixed noise and timesteps, with the pipeline as it is."""
    from diffusers import DDPMScheduler

    recipe = recipe_for(task.model.family)
    data = prepare(pipe, recipe, task.items, task.config.resolution, pipe.unet.device)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator("cpu").manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for _ in range(rounds):
            for index in range(len(task.items)):
                latents = data.means[index][None] * pipe.vae.config.scaling_factor
                noise = torch.randn(latents.shape, generator=g)
                t = torch.randint(0, scheduler.config.num_train_timesteps, (1,), generator=g)
                cond = recipe.batch([data.texts[index]], [data.sizes[index]], pipe.unet.device)
                pred = recipe.forward(pipe.unet, scheduler.add_noise(latents, noise, t), t, cond)
                total += torch.nn.functional.mse_loss(pred, noise).item()
    return total / (rounds * len(task.items))


def run_training(
    host: EngineHost, task: TrainTask, events: list | None = None, on_event: Callable | None = None
) -> tuple[Any, threading.Event]:
    """Run `task` on `host` as engine work; returns its outcome and the cancel flag."""
    from engine.tasks import train
    from engine.work import WorkOrder

    ctx, cancel = context(events, on_event)
    return train.run(WorkOrder(7, "train", task), ctx, host), cancel


def image_with_lora(manager: Any, spec: ModelSpec, path: Path | None, scale: float = 1.0) -> np.ndarray:
    """One small image of the planted character from `spec`, with the LoRA at `path` (or none) at `scale`."""
    from engine.types import GenerateRequest, LoraSpec

    loras = (LoraSpec(path.stem, path, spec.family, scale),) if path else ()
    request = GenerateRequest(prompt="zzchar, a round figure", model=spec.name, count=1, seed=5, steps=2, loras=loras)
    result = manager.generate(request, spec)
    return np.asarray(result.images[0].image, dtype=np.float64) / 255
