"""Training sets: named per server, owned by their creator, fed by uploads, reactions and character sheets.

Every image in a set is the set's own copy (`data/trainsets/<set id>/`), so deleting the message or the
job it came from does not break the set. A caption job (background, `caption` kind) captions each image
that enters; a member's caption is kept.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import contact_sheet
from storage import Database, DuplicateError
from storage.records import ItemSource, TrainingItem, TrainingSet
from studio.contract import Caller
from studio.errors import NotFound, Refused, StudioError
from studio.jobs.queue import JobQueue
from studio.models.service import ModelService
from studio.names import kept_name
from studio.trainsets.api import (
    MAX_CAPTION,
    MAX_ITEMS,
    MAX_TRIGGER,
    SetVerdict,
    TrainsetInfo,
    TrainsetItem,
    TrainsetView,
)
from studio.trainsets.caption import CaptionRequest
from studio.trainsets.checks import SetChecker
from studio.uploads import Uploads

log = logging.getLogger(__name__)

SHOW_WAIT_S = 20.0
NO_ACTIVE_SET = (
    "You have no active training set here: create one with /trainset create, or pick one with /trainset use."
)


def _copy(source: Path, target: Path) -> None:
    if target.exists():  # content-addressed: the same image is already in the set
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class NewItem:
    """An image to put in a set: copied into the set's folder under a content name."""

    path: Path
    image_id: int | None = None  # a result of the bot's
    sha256: str | None = None


def item_view(number: int, item: TrainingItem) -> TrainsetItem:
    return TrainsetItem(
        number=number,
        item_id=item.id,
        path=item.path,
        caption=item.caption,
        caption_by_member=item.caption_source == "user",
        added_by=item.added_by,
        added_at=item.created_at,
        source=item.source,
        image_id=item.image_id,
    )


class TrainsetService:
    """Implements `TrainsetsApi` (`studio.trainsets.curation` picks result images into its sets)."""

    def __init__(self, db: Database, queue: JobQueue, models: ModelService, uploads: Uploads, sets_dir: Path) -> None:
        self._db = db
        self._queue = queue
        self._models = models
        self._uploads = uploads
        self._sets_dir = sets_dir
        self.checker = SetChecker(db, queue, models)
        self._locks: dict[int, asyncio.Lock] = {}

    # -- finding sets --------------------------------------------------------------------------

    @staticmethod
    def set_name(name: str) -> str:
        """The name a set is stored under: as typed, trimmed (it is found again in any case)."""
        return kept_name(name, "training set name")

    @staticmethod
    def _where(caller: Caller) -> int | None:
        if caller.guild_id is None and not caller.bypasses_server_policy:
            raise Refused("Training sets belong to a server: use /trainset in one of its channels.")
        return caller.guild_id

    async def named(self, caller: Caller, name: str) -> TrainingSet:
        """The set called `name` in the caller's server; NotFound with what to do."""
        found = await self._db.training_sets.get_by_name(self._where(caller), name)
        if found is None:
            raise NotFound(f"There is no training set named {name.strip()!r} here. /trainset list shows them.")
        return found

    async def target(self, caller: Caller, name: str | None) -> TrainingSet:
        """The set called `name`, or the caller's active set."""
        if name:
            return await self.named(caller, name)
        active = await self._db.training_sets.active(self._where(caller), caller.user_id)
        if active is None:
            raise StudioError(NO_ACTIVE_SET)
        return active

    async def _info(self, caller: Caller, found: TrainingSet) -> TrainsetInfo:
        active = await self._db.training_sets.active(found.guild_id, caller.user_id)
        return TrainsetInfo(
            id=found.id,
            name=found.name,
            owner_id=found.owner_id,
            size=len(await self._db.training_sets.items(found.id)),
            trigger_word=found.trigger_word,
            base_model=found.base_model,
            locked=found.locked,
            active=active is not None and active.id == found.id,
        )

    def folder(self, set_id: int) -> Path:
        """Where a set keeps its images (by id: no member's text ever reaches the file system)."""
        return self._sets_dir / str(set_id)

    # -- sets ------------------------------------------------------------------------------------

    async def create(
        self, caller: Caller, name: str, trigger_word: str | None = None, base_model: str | None = None
    ) -> TrainsetInfo:
        guild_id = self._where(caller)
        await self._queue.admission.check_access(caller)
        slug = self.set_name(name)
        trigger = " ".join((trigger_word or "").split()) or None
        if trigger is not None and len(trigger) > MAX_TRIGGER:
            raise StudioError(f"The trigger word is too long ({len(trigger)} characters; at most {MAX_TRIGGER}).")
        base = None
        if base_model:
            model = await self._models.resolve(base_model)
            if model.loras:
                raise StudioError(f"{base_model!r} is a LoRA: give the base model to train on, e.g. sd15 or sdxl.")
            base = model.spec.name
        try:
            created = await self._db.training_sets.create(slug, guild_id, caller.user_id, trigger, base)
        except DuplicateError:
            raise Refused(f"A training set named {slug!r} already exists here: pick another name.") from None
        await self._db.training_sets.set_active(created.guild_id, caller.user_id, created.id)
        log.info("training set %s (%s) created by user=%s", created.id, slug, caller.user_id)
        return await self._info(caller, created)

    async def use(self, caller: Caller, name: str) -> TrainsetInfo:
        found = await self.named(caller, name)
        await self._db.training_sets.set_active(found.guild_id, caller.user_id, found.id)
        return await self._info(caller, found)

    async def list(self, caller: Caller) -> list[TrainsetInfo]:
        return [await self._info(caller, s) for s in await self._db.training_sets.list(self._where(caller))]

    async def show(self, caller: Caller, name: str | None = None) -> TrainsetView:
        found = await self.target(caller, name)
        items = await self._db.training_sets.items(found.id)
        # The set is shown at once; checks still queued behind other jobs are reported as such.
        verdict = await self.checker.check(caller, found, items, wait_s=SHOW_WAIT_S)
        sheet = None
        if items:
            flagged = {v.number for v in verdict.flagged}
            sheet = await asyncio.to_thread(contact_sheet, [i.path for i in items], flagged)
        views = tuple(item_view(n, item) for n, item in enumerate(items, start=1))
        return TrainsetView(await self._info(caller, found), views, sheet, verdict)

    async def check(self, caller: Caller, name: str | None = None) -> SetVerdict:
        found = await self.target(caller, name)
        return await self.checker.check(caller, found, await self._db.training_sets.items(found.id))

    @staticmethod
    def _may_manage(caller: Caller, found: TrainingSet, what: str) -> None:
        if caller.user_id != found.owner_id and not caller.may_manage_server:
            raise Refused(f"Only the set's owner, <@{found.owner_id}>, or a member with Manage Server can {what}.")

    async def lock(self, caller: Caller, name: str, locked: bool) -> TrainsetInfo:
        found = await self.named(caller, name)
        self._may_manage(caller, found, "lock or unlock it")
        await self._db.training_sets.set_locked(found.id, locked)
        return await self._info(caller, await self.named(caller, name))

    async def deletable(self, caller: Caller, name: str) -> TrainsetInfo:
        found = await self.named(caller, name)
        self._may_manage(caller, found, "delete it")
        return await self._info(caller, found)

    async def delete(self, caller: Caller, set_id: int) -> str:
        found = await self._db.training_sets.get(set_id)
        if found is None:
            raise NotFound("This training set no longer exists.")
        self._may_manage(caller, found, "delete it")
        async with self._lock(found.id):  # nothing is being added meanwhile: no file is left behind
            await self._db.training_sets.delete(found.id)
            await asyncio.to_thread(shutil.rmtree, self.folder(found.id), True)
        log.info("training set %s (%s) deleted by user=%s", found.id, found.name, caller.user_id)
        return found.name

    # -- items -------------------------------------------------------------------------------------

    def _lock(self, set_id: int) -> asyncio.Lock:
        """One change at a time per set: a file is never deleted while another item is being added with it."""
        return self._locks.setdefault(set_id, asyncio.Lock())

    async def check_adding(self, caller_id: int, found: TrainingSet) -> None:
        """May `caller_id` add to the set now? Refused for a locked set (but its owner) or a full one."""
        if found.locked and caller_id != found.owner_id:
            raise Refused(f"The set {found.name!r} is locked: only its owner, <@{found.owner_id}>, adds images.")
        if len(await self._db.training_sets.items(found.id)) >= MAX_ITEMS:
            raise Refused(f"The set {found.name!r} is full ({MAX_ITEMS} images): remove some first.")

    async def add(self, caller: Caller, image: bytes, name: str | None = None) -> TrainsetItem:
        items, _job = await self.add_uploads(caller, [image], name)
        if not items:
            raise Refused("That image is already in the set.")
        return items[0]

    async def add_uploads(
        self, caller: Caller, images: Sequence[bytes], name: str | None = None
    ) -> tuple[builtins.list[TrainsetItem], int | None]:
        """Check uploads and add them to a set: the new items, and the job that captions them (None: none new)."""
        found = await self.target(caller, name)
        limits = await self._queue.admission.check_access(caller)
        if not limits.training_uploads:
            raise Refused("This server's sets take only images made here: react with ⭐ or 1️⃣–8️⃣ on a result.")
        await self.check_adding(caller.user_id, found)
        uploads = [await self._uploads.image(data) for data in images]
        new = [NewItem(u.path, sha256=u.path.stem) for u in uploads]
        return await self.add_items(found, caller.user_id, "upload", new)

    async def add_items(
        self, found: TrainingSet, added_by: int, source: ItemSource, new: Sequence[NewItem]
    ) -> tuple[builtins.list[TrainsetItem], int | None]:
        """Copy images into the set and add them (those already there are skipped, and none past the set's
        limit), then caption the new ones in one background job: (the new items, that job's id)."""
        added: builtins.list[TrainingItem] = []
        async with self._lock(found.id):
            current = await self._db.training_sets.get(found.id)
            if current is None:
                raise NotFound(f"The training set {found.name!r} was deleted.")
            room = MAX_ITEMS - len(await self._db.training_sets.items(found.id))
            for one in new:
                if len(added) >= room:
                    break
                name = f"{one.sha256 or one.image_id or one.path.stem}{one.path.suffix or '.png'}"
                target = self.folder(found.id) / name
                await asyncio.to_thread(_copy, one.path, target)
                item = await self._db.training_sets.add_item(found.id, target, added_by, one.image_id, source=source)
                if item is not None:
                    added.append(item)
            numbers = {item.id: n for n, item in enumerate(await self._db.training_sets.items(found.id), start=1)}
        if not added:
            return [], None
        member = Caller(user_id=added_by, guild_id=found.guild_id)
        # Background work for the set, not the member's own job: no access or load check.
        limits = await self._queue.admission.limits(member)
        request = CaptionRequest(found.id, tuple(item.id for item in added))
        ticket = await self._queue.submit(member, "caption", request, limits=limits)
        return [item_view(numbers[item.id], item) for item in added], ticket.job_id

    async def _numbered(self, caller: Caller, number: int, name: str | None) -> tuple[TrainingSet, TrainingItem]:
        found = await self.target(caller, name)
        items = await self._db.training_sets.items(found.id)
        if not 1 <= number <= len(items):
            raise NotFound(f"The set {found.name!r} has no image {number} (it has {len(items)}).")
        return found, items[number - 1]

    @staticmethod
    def may_change(caller: Caller, found: TrainingSet, item: TrainingItem, number: int) -> None:
        if caller.user_id in (item.added_by, found.owner_id) or caller.may_moderate:
            return
        raise Refused(f"Only the member who added image {number}, the set's owner or a moderator can change it.")

    async def item(self, caller: Caller, number: int, name: str | None = None) -> TrainsetItem:
        _found, item = await self._numbered(caller, number, name)
        return item_view(number, item)

    async def remove(self, caller: Caller, number: int, name: str | None = None) -> TrainsetItem:
        found, item = await self._numbered(caller, number, name)
        self.may_change(caller, found, item, number)
        await self.remove_items([item])
        return item_view(number, item)

    async def caption(self, caller: Caller, number: int, text: str, name: str | None = None) -> TrainsetItem:
        caption = " ".join((text or "").split())
        if not caption:
            raise StudioError("The caption is empty: describe the image, e.g. 'mychar, smiling, in a café'.")
        if len(caption) > MAX_CAPTION:
            raise StudioError(f"The caption is too long ({len(caption)} characters; at most {MAX_CAPTION}).")
        found, item = await self._numbered(caller, number, name)
        self.may_change(caller, found, item, number)
        await self._db.training_sets.set_caption(item.id, caption, "user")
        changed = await self._db.training_sets.item(item.id)
        assert changed is not None
        return item_view(number, changed)

    async def remove_items(self, items: builtins.list[TrainingItem]) -> None:
        """Remove items and the files no remaining item names (a content-named file may serve two items)."""
        for set_id in dict.fromkeys(item.set_id for item in items):
            async with self._lock(set_id):
                mine = [item for item in items if item.set_id == set_id]
                for item in mine:
                    await self._db.training_sets.remove_item(item.id)
                for path in dict.fromkeys(item.path for item in mine):
                    if await self._db.training_sets.uses_of_path(path) == 0:
                        await asyncio.to_thread(_unlink, path)
