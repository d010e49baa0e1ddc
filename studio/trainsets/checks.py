"""The verdict on a set before training: enough images, and which ones are weak and why.

The engine's checks run as a job on the queue. Their findings are kept per set until the set changes, and
one run serves everyone who asks meanwhile: looking at a set many times costs one check.
"""

from __future__ import annotations

import asyncio
from typing import Any

from storage import Database
from storage.records import TrainingItem, TrainingSet
from studio.contract import Caller
from studio.errors import StudioError
from studio.jobs.queue import GENERIC_FAILURE, JobQueue
from studio.models.service import ModelService
from studio.trainsets.api import RECOMMENDED_IMAGES, ImageVerdict, SetVerdict
from studio.trainsets.check import CheckRequest

CHECK_WAIT_S = 13 * 60  # under Discord's 15-minute interaction token, with room to answer
BLOCKING = frozenset({"unreadable"})  # weak images are shown; only unreadable ones stop a training
# set, resolution, base model (its own embedder, if any), (item, path)…: what the findings depend on
Key = tuple[int, int, str, tuple[tuple[int, str], ...]]


class SetChecker:
    def __init__(self, db: Database, queue: JobQueue, models: ModelService) -> None:
        self._db = db
        self._queue = queue
        self._models = models
        self._findings: dict[int, tuple[Key, dict[str, Any]]] = {}  # set id → the findings for that key
        self._running: dict[Key, int] = {}  # a check job under way, for everyone who asks meanwhile
        self._submitting = asyncio.Lock()

    async def _model(self, found: TrainingSet) -> tuple[int, str]:
        """The base model's training resolution and preset id."""
        preset = (await self._models.resolve(found.base_model)).spec.preset
        return preset.training.resolution, preset.id

    async def check(
        self, caller: Caller, found: TrainingSet, items: list[TrainingItem], wait_s: float = CHECK_WAIT_S
    ) -> SetVerdict:
        """Judge the set; when the engine's checks take longer than `wait_s`, judge the count alone and say so."""
        await self._queue.admission.check_access(caller)
        min_images = (await self._db.guild_settings.get(found.guild_id)).min_training_images
        if not items:
            return judge(0, min_images, {})
        resolution, model = await self._model(found)
        key: Key = (found.id, resolution, model, tuple((i.id, str(i.path)) for i in items))
        cached = self._findings.get(found.id)
        if cached is not None and cached[0] == key:
            return judge(len(items), min_images, cached[1])
        async with self._submitting:  # everyone asking about the same set state waits for one job
            job_id = self._running.get(key)
            if job_id is None:
                request = CheckRequest(found.id, tuple(path for _, path in key[3]), resolution, model)
                limits = await self._queue.admission.limits(caller)
                job_id = (await self._queue.submit(caller, "trainset_check", request, limits=limits)).job_id
                self._running[key] = job_id
        try:
            done = await self._queue.wait(job_id, limit_s=wait_s)
        except TimeoutError:
            return judge(len(items), min_images, None)  # the job goes on; its findings serve the next look
        self._running.pop(key, None)
        if done.status != "done":
            raise StudioError(done.error or GENERIC_FAILURE)
        result = done.result or {}
        self._findings[found.id] = (key, result)
        return judge(len(items), min_images, result)


def judge(count: int, min_images: int, result: dict[str, Any] | None) -> SetVerdict:
    """The verdict from the count and the engine's findings (None: the image checks are still running)."""
    findings = (result or {}).get("findings", [])
    flagged = tuple(ImageVerdict(int(f["number"]), tuple(f["notes"])) for f in findings if f.get("codes"))
    blocking = [f["number"] for f in findings if BLOCKING & set(f.get("codes", []))]
    low, high = RECOMMENDED_IMAGES
    problems: list[str] = []
    if count < min_images:
        problems.append(
            f"add {min_images - count} more image(s): training needs at least {min_images} ({low}–{high} work best)"
        )
    if blocking:
        numbers = ", ".join(f"#{n}" for n in blocking)
        problems.append(f"remove the unreadable image(s) {numbers}")
    advice = "" if count <= high else f" ({count} is more than the {low}–{high} that work best)"
    pending = "the image checks are still queued: /trainset check shows them when they are done."
    if problems:
        summary = f"{count} image(s): not ready, " + "; ".join(problems) + "."
        if result is None and count:
            summary += f" And {pending}"
    elif result is None:
        summary = f"{count} image(s), enough to train{advice}; {pending}"
    else:
        weak = f", {len(flagged)} flagged below" if flagged else ", none flagged"
        summary = f"{count} image(s){weak}: ready to train{advice}."
    outliers = (result or {}).get("embedder") is not None
    return SetVerdict(count, min_images, not problems and result is not None, summary, flagged, outliers)
