"""Picking: one of the bot's result images into a training set by its id, and taking it back.

Every front door names the image by id: the Discord adapter finds it behind a ⭐ or keycap reaction on a result
(through `posts`), the command line takes it as typed. The set is the one named, or the caller's active set.
"""

from __future__ import annotations

import asyncio
import logging

from storage import Database
from storage.records import ImageRecord
from studio.contract import Caller
from studio.errors import NotFound, Refused
from studio.jobs.admission import Admission
from studio.trainsets.api import TrainsetItem
from studio.trainsets.service import NewItem, TrainsetService, item_view

log = logging.getLogger(__name__)


class Curation:
    """Implements `CurationApi`."""

    def __init__(self, db: Database, sets: TrainsetService, admission: Admission) -> None:
        self._db = db
        self._sets = sets
        self._admission = admission
        # One pick at a time: a pick and its taking back, arriving together, are handled in the order they came.
        self._lock = asyncio.Lock()

    async def pick(self, caller: Caller, set_name: str | None, image_id: int) -> tuple[TrainsetItem, int | None]:
        async with self._lock:
            # The server's role list applies to picking as to generating (captions run on the GPU).
            await self._admission.check_access(caller)
            target = await self._sets.target(caller, set_name)
            image = await self._image(caller, image_id)
            await self._sets.check_adding(caller.user_id, target)
            new = NewItem(image.path, image_id=image.id, sha256=image.sha256)
            added, captions = await self._sets.add_items(target, caller.user_id, "reaction", [new])
            if not added:
                raise Refused(f"Image {image_id} is in the set {target.name!r} already.")
            log.info("user=%s picked image %s into set %s as #%s", caller.user_id, image_id, target.id, added[0].number)
            return added[0], captions

    async def unpick(self, caller: Caller, set_name: str | None, image_id: int) -> TrainsetItem:
        async with self._lock:
            target = await self._sets.target(caller, set_name)
            items = await self._db.training_sets.items(target.id)
            found = next(((n, i) for n, i in enumerate(items, start=1) if i.image_id == image_id), None)
            if found is None:
                raise NotFound(f"Image {image_id} is not in the set {target.name!r}.")
            number, item = found
            self._sets.may_change(caller, target, item, number)
            await self._sets.remove_items([item])
            log.info("user=%s took image %s out of set %s", caller.user_id, image_id, target.id)
            return item_view(number, item)

    async def _image(self, caller: Caller, image_id: int) -> ImageRecord:
        """A result image the caller may see: made in the caller's server, or for the caller (a DM's)."""
        image = await self._db.images.get(image_id)
        job = await self._db.jobs.get(image.job_id) if image is not None else None
        seen = job is not None and (
            caller.bypasses_server_policy
            or job.requester_id == caller.user_id
            or (job.guild_id is not None and job.guild_id == caller.guild_id)
        )
        if image is None or not seen:
            raise NotFound(f"There is no image {image_id} here: give the id of one of the bot's results.")
        return image
