"""The train task: a LoRA trained on the generation pipeline's own weights, between other members' jobs.

The plan was sized for a worker when it was made; here, where it runs, it is checked against the real device first.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.backends.base import describe_runner
from engine.training.autoconfig import fit_to_device
from engine.training.types import TrainOutcome, TrainTask
from engine.work import WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import OrderRunner, WorkContext
    from engine.host import EngineHost

log = logging.getLogger(__name__)


def fitted(task: TrainTask, host: OrderRunner, job_id: object) -> TrainTask:
    """The task with its config fitted to this worker's device (InvalidRequest when it cannot fit)."""
    info = describe_runner(host, "this worker")
    where = f"this worker ({info.gpu_name or info.device}, {info.gpu_memory_gb or 0:.0f} GB)"
    config, changed = fit_to_device(
        task.model.preset, task.config, gpu_gb=info.gpu_memory_gb, precision=info.training_precision, where=where
    )
    if changed:
        log.warning("job_id=%s: the plan is adapted to %s: %s", job_id, where, "; ".join(changed))
    return replace(task, config=config)


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> TrainOutcome:
    from engine.diffusion.lora import peft_as_intended
    from engine.families.registry import denoiser
    from engine.training.samples import Samples
    from engine.training.text_lora import TextEncoderLora
    from engine.training.trainer import Trainer

    task = order.request
    assert isinstance(task, TrainTask), type(task)
    manager = host.manager()  # first: the device it holds its pipelines on is the one the plan must fit
    task = fitted(task, host, order.job_id)
    pipe = manager.training_pipeline(task.model, task.adapter)
    preset = task.model.preset
    try:
        # The base model's own eyes when it has them (tiny-world), else the configured embedder.
        samples = Samples(lambda: host.embedder(preset.id), guidance=preset.guidance, scheduler=preset.scheduler)
        return Trainer(task, pipe, samples).run(ctx)
    finally:
        model = denoiser(pipe, task.model.family)
        model.eval()  # also after a failure mid-step: other jobs expect inference mode
        manager.training_pipeline(task.model, None)
        if task.adapter in (getattr(model, "peft_config", None) or {}):
            with peft_as_intended():
                model.delete_adapters([task.adapter])  # its weights are in the run's files now
        if getattr(pipe, "text_encoder", None) is not None:
            TextEncoderLora(pipe.text_encoder, task.adapter).remove()
