"""The export task: a training checkpoint as the files other tools read (diffusers and kohya layouts).

It reads safetensors and writes them again with torch, so it runs where the engine runs, never in the services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import EngineError
from engine.work import ExportOutcome, ExportTask, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> ExportOutcome:
    from engine.training.export import export_checkpoint  # torch: imported on the worker

    task = order.request
    assert isinstance(task, ExportTask), type(task)
    for what, path in (("checkpoint's LoRA", task.lora), ("run's own export", task.template)):
        if not path.is_file():
            raise EngineError(f"The {what} ({path.name}) is missing from the run's folder: pick another checkpoint.")
    ctx.raise_if_cancelled()
    diffusers, kohya = export_checkpoint(
        task.lora, task.template, order.require_out_dir(), task.name, task.step, task.config, task.family
    )
    return ExportOutcome(diffusers, kohya)
