"""The caption task: caption images for a training set (short captions, one per image, in order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.prompting.text import clean_caption
from engine.work import CaptionOutcome, CaptionTask, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> CaptionOutcome:
    from PIL import Image, UnidentifiedImageError

    task = order.request
    assert isinstance(task, CaptionTask), type(task)
    captioner = host.captioner()
    captions: list[str | None] = []
    for n, path in enumerate(task.paths, start=1):
        ctx.raise_if_cancelled()
        try:
            with Image.open(path) as img:
                image = img.convert("RGB")
        except (OSError, UnidentifiedImageError):
            captions.append(None)
        else:
            captions.append(clean_caption(captioner.caption(image, "short")) or None)
        ctx.report(n, len(task.paths))
    return CaptionOutcome(task.paths, tuple(captions))
