"""The gallery's reads and deletions (implements `GalleryApi`): every getter checks access; unseen is not found."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from storage import Collection, Database, GalleryImage
from studio.errors import NotFound, Refused
from studio.gallery.access import card, image_query, sight_of
from studio.gallery.api import (
    DEFAULT_PAGE,
    MAX_BATCH,
    MAX_PAGE,
    CollectionInfo,
    DeletedImages,
    HistoryEntry,
    HistoryPage,
    ImageCard,
    ImageDetail,
    ImageFilter,
    ImagePage,
    JobView,
    PostLink,
    Viewer,
)
from studio.images.api import JobResult
from studio.privacy import unlink_all

log = logging.getLogger(__name__)

ResultGetter = Callable[[int], Awaitable[JobResult]]  # FollowUpsApi.result: a finished image job's result


def _no_image(image_id: int) -> NotFound:
    return NotFound(f"There is no image {image_id}, or it is not shown to you.")


def check_batch(image_ids: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(image_ids))
    if not ids:
        raise Refused("Pick at least one image.")
    if len(ids) > MAX_BATCH:
        raise Refused(f"That is {len(ids)} images: pick at most {MAX_BATCH} at a time.")
    return ids


def collection_info(found: Collection) -> CollectionInfo:
    return CollectionInfo(found.id, found.name, found.size, found.guild_id, found.created_at)


class GalleryService:
    """Implements `GalleryApi` over the database; `results` builds a finished job's result (`FollowUps.result`)."""

    def __init__(self, db: Database, results: ResultGetter) -> None:
        self._db = db
        self._results = results

    async def seen(self, viewer: Viewer, image_ids: Sequence[int]) -> dict[int, GalleryImage]:
        """All of `image_ids` if the viewer may see each; NotFound naming the first they may not."""
        found = await self._db.gallery.visible(await sight_of(self._db, viewer), image_ids)
        for image_id in image_ids:
            if image_id not in found:
                raise _no_image(image_id)
        return found

    async def own_collection(self, viewer: Viewer, collection_id: int) -> CollectionInfo:
        found = await self._db.collections.get(collection_id)
        if found is None or found.owner_id != viewer.caller.user_id:
            raise NotFound(f"You have no collection {collection_id}.")
        return collection_info(found)

    async def images(self, viewer: Viewer, filters: ImageFilter) -> ImagePage:
        if filters.collection_id is not None:
            await self.own_collection(viewer, filters.collection_id)
        query = image_query(filters, filters.collection_id)
        rows = await self._db.gallery.search(await sight_of(self._db, viewer), query)
        page = rows[: query.limit - 1]
        more = len(rows) > len(page)
        return ImagePage(tuple(card(r, viewer) for r in page), page[-1].image.id if more and page else None)

    async def image(self, viewer: Viewer, image_id: int) -> ImageCard:
        found = await self.seen(viewer, [image_id])
        return card(found[image_id], viewer)

    async def detail(self, viewer: Viewer, image_id: int) -> ImageDetail:
        found = (await self.seen(viewer, [image_id]))[image_id]
        caller, image = viewer.caller, found.image
        full_view = caller.bypasses_server_policy or found.requester_id == caller.user_id
        posts = tuple(
            PostLink(p.guild_id, p.channel_id, p.message_id, p.number)
            for p in await self._db.posts.for_image(image_id)
            if p.guild_id is not None
            and p.channel_id is not None
            and (full_view or (p.guild_id == caller.guild_id and p.channel_id in viewer.channel_ids))
        )
        sets = tuple(
            s.name
            for s in await self._db.gallery.sets_holding(image_id)
            if caller.bypasses_server_policy
            or s.owner_id == caller.user_id
            or (caller.guild_id is not None and s.guild_id == caller.guild_id)
        )
        collections = tuple(collection_info(c) for c in await self._db.collections.holding(caller.user_id, image_id))
        p = image.params
        return ImageDetail(
            card=card(found, viewer),
            kind=found.kind,
            negative_prompt=image.negative_prompt,
            seed=image.seed,
            steps=_int(p.get("steps")),
            guidance=_float(p.get("guidance")),
            scheduler=_str(p.get("scheduler")),
            mode=_str(p.get("mode")),
            strength=_float(p.get("strength")),
            base_model=_str(p.get("base_model")),
            loras=image.loras,
            sha256=image.sha256,
            size_bytes=image.size_bytes,
            posts=posts,
            sets=sets,
            collections=collections,
            settings=_settings_text(p.get("extras")),
        )

    async def job(self, viewer: Viewer, job_id: int) -> JobView:
        caller = viewer.caller
        job = await self._db.jobs.get(job_id)
        if job is None:
            raise NotFound(f"There is no job {job_id}, or it is not shown to you.")
        mine = caller.bypasses_server_policy or job.requester_id == caller.user_id
        images = await self._db.gallery.of_job(await sight_of(self._db, viewer), job_id)
        if not mine and not images:
            raise NotFound(f"There is no job {job_id}, or it is not shown to you.")
        return JobView(
            job_id=job.id,
            kind=job.kind,
            status=job.status,
            mine=mine,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error if mine else None,
            images=tuple(card(i, viewer) for i in images),
        )

    async def job_result(self, viewer: Viewer, job_id: int) -> JobResult:
        view = await self.job(viewer, job_id)
        result = await self._results(job_id)
        if view.mine:
            return result
        seen = {c.image_id for c in view.images}
        images = tuple(i for i in result.images if i.image_id in seen)
        whole = len(images) == len(result.images)
        return replace(
            result,
            images=images,
            grid_path=result.grid_path if whole else None,
            extra_files=result.extra_files if whole else (),
        )

    async def history(self, viewer: Viewer, before_id: int | None = None, limit: int = DEFAULT_PAGE) -> HistoryPage:
        limit = max(1, min(limit, MAX_PAGE))
        jobs = await self._db.jobs.list_for_user(viewer.caller.user_id, limit + 1, before_id)
        page = jobs[:limit]
        sight = await sight_of(self._db, viewer)
        entries = []
        for job in page:
            images = await self._db.gallery.of_job(sight, job.id)
            entries.append(
                HistoryEntry(
                    job_id=job.id,
                    kind=job.kind,
                    status=job.status,
                    created_at=job.created_at,
                    finished_at=job.finished_at,
                    error=job.error,
                    parameters=_plain(job.request),
                    image_ids=tuple(i.image.id for i in images),
                )
            )
        return HistoryPage(tuple(entries), page[-1].id if len(jobs) > limit else None)

    async def delete(self, viewer: Viewer, image_ids: Sequence[int]) -> DeletedImages:
        ids = check_batch(image_ids)
        found = await self.seen(viewer, ids)
        for image_id in ids:
            if found[image_id].requester_id != viewer.caller.user_id:
                raise Refused(f"Image {image_id} is another member's: you can delete only your own images.")
        paths = await self._db.gallery.delete_images(ids)
        files = await asyncio.to_thread(unlink_all, paths)
        log.info("user=%s deleted images %s (%d files)", viewer.caller.user_id, ids, files)
        return DeletedImages(tuple(ids), files)


def _plain(request: object) -> dict[str, str | int | float | bool]:
    """A job request's plain values (prompt, model, seed, ...): no nested data, no file paths."""
    if not isinstance(request, dict):
        return {}
    return {
        str(key): value
        for key, value in request.items()
        if isinstance(value, str | int | float | bool) and "path" not in str(key) and "file" not in str(key)
    }


def _settings_text(extras: object) -> str:
    """The family's own settings an image was made with, as `/generate settings:` and `--set` take them."""
    if not isinstance(extras, dict):
        return ""
    return " ".join(
        f"{name}={str(value).lower() if isinstance(value, bool) else value}" for name, value in extras.items()
    )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
