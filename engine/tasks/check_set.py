"""The check_set task: read a LoRA training set and report, per image, what would spoil the training.

Outliers need the image embedder (CLIP); when its weights are missing every other check still runs and
the outcome says `embedder=None`: a set check never fails for want of CLIP.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from engine.errors import ModelUnavailable
from engine.training.checks import OUTLIER_MIN_SET, check_images
from engine.work import CheckOutcome, CheckSetTask, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost
    from engine.vision.embedder import ImageEmbedder

log = logging.getLogger(__name__)

_warned: set[str] = set()  # embedder failures already logged as warnings (one per message and process)
_warned_lock = threading.Lock()


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> CheckOutcome:
    task = order.request
    assert isinstance(task, CheckSetTask), type(task)
    ctx.raise_if_cancelled()
    embedder = _embedder(host, task.model) if len(task.paths) >= OUTLIER_MIN_SET else None

    def progress(n: int, total: int) -> None:
        ctx.report(n, total)
        ctx.raise_if_cancelled()

    findings = check_images(task.paths, resolution=task.resolution, embedder=embedder, progress=progress)
    readable = sum("unreadable" not in f.codes for f in findings)
    checked = embedder is not None and readable >= OUTLIER_MIN_SET
    return CheckOutcome(findings, embedder.name if checked and embedder is not None else None)


def _embedder(host: EngineHost, model: str | None) -> ImageEmbedder | None:
    """The host's embedder for the set's base model, or None (with one warning) when it cannot be loaded."""
    try:
        return host.embedder(model)
    except ModelUnavailable as exc:
        with _warned_lock:
            first = exc.message not in _warned
            _warned.add(exc.message)
        if first:
            log.warning("training-set outlier check skipped: %s", exc.message)
        else:
            log.debug("training-set outlier check skipped: %s", exc.message)
        return None
