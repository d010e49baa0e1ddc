"""The describe task: caption an image and read its pixels into candidate prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from engine.work import SOURCE, DescribeOutcome, DescribeTask, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> DescribeOutcome:
    task = order.request
    assert isinstance(task, DescribeTask), type(task)
    source = order.input(SOURCE)
    if source is None:
        raise ValueError(f"describe order for job {order.job_id} has no source image")
    from engine.vision.captioner import describe  # torch: imported on the worker

    with Image.open(source) as img:
        image = img.convert("RGB")
    ctx.raise_if_cancelled()
    return DescribeOutcome(tuple(describe(image, host.captioner(task.for_model), task.count)))
