"""The train task: a LoRA trained on the generation pipeline's own weights, between other members' jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.training.types import TrainOutcome, TrainTask
from engine.work import WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> TrainOutcome:
    from engine.families.base import denoiser
    from engine.training.samples import Samples
    from engine.training.text_lora import TextEncoderLora
    from engine.training.trainer import Trainer

    task = order.request
    assert isinstance(task, TrainTask), type(task)
    manager = host.manager()
    pipe = manager.training_pipeline(task.model, task.adapter)
    preset = task.model.preset
    try:
        samples = Samples(host.embedder, guidance=preset.guidance, scheduler=preset.scheduler)
        return Trainer(task, pipe, samples).run(ctx)
    finally:
        model = denoiser(pipe, task.model.family)
        model.eval()  # also after a failure mid-step: other jobs expect inference mode
        manager.training_pipeline(task.model, None)
        if task.adapter in (getattr(model, "peft_config", None) or {}):
            model.delete_adapters([task.adapter])  # its weights are in the run's files now
        if getattr(pipe, "text_encoder", None) is not None:
            TextEncoderLora(pipe.text_encoder, task.adapter).remove()
