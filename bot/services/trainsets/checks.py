"""The verdict on a set before training: enough images, and which ones are weak and why."""

from __future__ import annotations

from dataclasses import replace

from bot.services.api import Caller
from bot.services.errors import StudioError
from bot.services.jobs.kinds.check import CheckRequest
from bot.services.jobs.queue import GENERIC_FAILURE, JobQueue
from bot.services.models import ModelService
from bot.services.trainsets.api import RECOMMENDED_IMAGES, ImageVerdict, SetVerdict
from storage import Database
from storage.records import TrainingItem, TrainingSet

CHECK_WAIT_S = 13 * 60  # under Discord's 15-minute interaction token, with room to answer
BLOCKING = frozenset({"unreadable"})  # weak images are shown; only unreadable ones stop a training


class SetChecker:
    def __init__(self, db: Database, queue: JobQueue, models: ModelService) -> None:
        self._db = db
        self._queue = queue
        self._models = models

    async def _resolution(self, found: TrainingSet) -> int:
        model = await self._models.resolve(found.base_model)
        return model.spec.preset.training.resolution

    async def check(self, caller: Caller, found: TrainingSet, items: list[TrainingItem]) -> SetVerdict:
        """Run the engine's checks on the set's images (a job on the queue) and judge the set."""
        limits = await self._db.guild_settings.get(found.guild_id)
        flagged: tuple[ImageVerdict, ...] = ()
        outliers = False
        if items:
            request = CheckRequest(found.id, tuple(str(i.path) for i in items), await self._resolution(found))
            ticket = await self._queue.submit(caller, "trainset_check", request, limits=limits)
            try:
                done = await self._queue.wait(ticket.job_id, limit_s=CHECK_WAIT_S)
            except TimeoutError:
                await self._queue.cancel(replace(caller, is_moderator=True), ticket.job_id)
                raise StudioError("The queue is too long to check the set now; try again in a few minutes.") from None
            if done.status != "done":
                raise StudioError(done.error or GENERIC_FAILURE)
            result = done.result or {}
            flagged = tuple(
                ImageVerdict(int(f["number"]), tuple(f["notes"])) for f in result.get("findings", []) if f.get("codes")
            )
            blocking = [f["number"] for f in result.get("findings", []) if BLOCKING & set(f.get("codes", []))]
            outliers = result.get("embedder") is not None
        else:
            blocking = []
        return judge(len(items), limits.min_training_images, flagged, blocking, outliers)


def judge(
    count: int, min_images: int, flagged: tuple[ImageVerdict, ...], blocking: list[int], outliers_checked: bool
) -> SetVerdict:
    low, high = RECOMMENDED_IMAGES
    problems: list[str] = []
    if count < min_images:
        problems.append(
            f"add {min_images - count} more image(s): training needs at least {min_images} ({low}–{high} work best)"
        )
    if blocking:
        numbers = ", ".join(f"#{n}" for n in blocking)
        problems.append(f"remove the unreadable image(s) {numbers}")
    if problems:
        summary = f"{count} image(s): not ready, " + "; ".join(problems) + "."
    else:
        advice = "" if count <= high else f" ({count} is more than the {low}–{high} that work best)"
        weak = f", {len(flagged)} flagged below" if flagged else ", none flagged"
        summary = f"{count} image(s){weak}: ready to train{advice}."
    return SetVerdict(count, min_images, not problems, summary, flagged, outliers_checked)
