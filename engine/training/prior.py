"""Prior preservation: images the base model draws before a run, trained beside the set so the LoRA keeps the rest.

DreamBooth's class images, kohya's regularisation images: the model's own outputs for prompts without the trigger
word, trained on with a loss weight, pull the LoRA back toward what the model did before wherever the trigger is
absent. They are drawn once, with the adapters off, into the run's folder; a resumed run reads the same files, so
its batches are exactly those of an uninterrupted run.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.training.types import TrainConfig, TrainItem

log = logging.getLogger(__name__)

FOLDER = "prior"
_DONE = "done"
_SEED = 1_000_000  # prior image i uses seed config.seed + _SEED + i: apart from the samples' seeds
_BATCH = 8  # images per pipeline call: bounded memory on a real model


def prior_prompts(config: TrainConfig, items: Sequence[TrainItem], trigger: str | None) -> list[str]:
    """`config.prior_images` prompts: the configured ones, or the set's captions without the trigger, cycled."""
    source = list(config.prior_prompts) or [without_trigger(item.caption, trigger) for item in items]
    if not source or config.prior_images <= 0:
        return []
    return [source[i % len(source)] for i in range(config.prior_images)]


def without_trigger(caption: str, trigger: str | None) -> str:
    """The caption with the trigger word taken out (and the comma it was put in front with)."""
    if not trigger:
        return caption
    text = re.sub(rf"(?<!\w){re.escape(trigger)}(?!\w),?", "", caption, flags=re.IGNORECASE)
    return " ".join(text.split()).strip(" ,")


def prior_items(
    pipe: Any,
    config: TrainConfig,
    prompts: Sequence[str],
    run_dir: Path,
    *,
    guidance: float,
    scheduler: str,
) -> tuple[TrainItem, ...]:
    """The prior images of the run in `run_dir`: drawn now by the base model, or read back when a run resumes."""
    folder = run_dir / FOLDER
    if not prompts:
        return ()
    if not (folder / _DONE).is_file():
        _draw(pipe, config, prompts, folder, guidance=guidance, scheduler=scheduler)
    return tuple(TrainItem(folder / f"{i:04d}.png", prompt) for i, prompt in enumerate(prompts))


def _draw(
    pipe: Any, config: TrainConfig, prompts: Sequence[str], folder: Path, *, guidance: float, scheduler: str
) -> None:
    import torch

    from engine.diffusion.schedulers import make_scheduler

    partial = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pipe.disable_lora()  # the base model's own images: every adapter off (a previous attempt's included)
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    for start in range(0, len(prompts), _BATCH):
        chunk = list(prompts[start : start + _BATCH])
        generators = [torch.Generator("cpu").manual_seed(config.seed + _SEED + start + i) for i in range(len(chunk))]
        with torch.no_grad():
            images = pipe(
                prompt=chunk,
                num_inference_steps=config.sample_steps,
                guidance_scale=guidance,
                width=config.resolution,
                height=config.resolution,
                generator=generators,
                output_type="pil",
            ).images
        for i, image in enumerate(images):
            image.save(partial / f"{start + i:04d}.png")
    (partial / _DONE).write_text(f"{len(prompts)}\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    log.info("prior preservation: %d images drawn by the base model", len(prompts))
