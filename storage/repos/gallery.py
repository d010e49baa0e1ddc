"""The gallery's reads: images a viewer may see, searched, filtered and paged by id; and deleting one image.

Which images a viewer may see is the core's rule (studio/gallery/access.py); it reaches this module as a `Sight`,
which every query here applies in SQL, so a page never holds an image the viewer may not see and paging stays exact.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from storage._codec import ts_to_db
from storage.records import GalleryImage, TrainingSet
from storage.repos._base import Repository
from storage.repos.images import image_from_row
from storage.repos.training import training_set_from_row

Scope = Literal["mine", "server"]


@dataclass(frozen=True)
class Sight:
    """What one viewer may see, as the core decided it.

    `everything`: the machine's owner. Otherwise the viewer's own images, and others' images posted in `guild_id` in
    one of `channel_ids`, those of spoilered jobs only when `others_spoilered` is set.
    """

    user_id: int
    guild_id: int | None = None
    channel_ids: frozenset[int] = frozenset()
    others_spoilered: bool = False
    everything: bool = False


@dataclass(frozen=True)
class ImageQuery:
    """A gallery page's question. `match` is an FTS5 query the caller built and quoted; `like` are LIKE patterns
    (escaped with a backslash) every prompt must also match; all filters combine with AND."""

    scope: Scope = "mine"
    match: str | None = None
    like: tuple[str, ...] = ()
    model: str | None = None  # the model picked (a base model or a LoRA) or the base model that ran
    lora: str | None = None  # a LoRA the image was made with
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    favourites: bool = False
    collection_id: int | None = None
    before_id: int | None = None
    limit: int = 50


# The flag the core stores in every image job's request when its results are spoilered (ImageRequest.spoiler).
_SPOILERED = "IFNULL(json_extract(jobs.request, '$.spoiler'), 0) = 1"
_POSTED = "EXISTS (SELECT 1 FROM posts AS p WHERE p.image_id = images.id AND p.guild_id IS NOT NULL)"
_SEEN_IN_CHANNEL = """EXISTS (SELECT 1 FROM posts AS p WHERE p.image_id = images.id AND p.guild_id = :guild
                              AND p.channel_id IN (SELECT value FROM json_each(:channels)))"""
_VISIBLE = f"""(:everything OR jobs.requester_id = :user
                OR (:guild IS NOT NULL AND (:others_spoilered OR NOT {_SPOILERED}) AND {_SEEN_IN_CHANNEL}))"""
_IN_SERVER = """((:guild IS NULL AND :everything) OR jobs.guild_id = :guild
                 OR EXISTS (SELECT 1 FROM posts AS p WHERE p.image_id = images.id AND p.guild_id = :guild))"""
_SELECT = f"""
    SELECT images.*, jobs.requester_id AS requester_id, jobs.guild_id AS job_guild_id, jobs.kind AS job_kind,
           {_SPOILERED} AS spoilered, {_POSTED} AS posted,
           EXISTS (SELECT 1 FROM favourites AS f WHERE f.image_id = images.id AND f.user_id = :user) AS favourite
    FROM images JOIN jobs ON jobs.id = images.job_id"""  # noqa: S608 - constant SQL


def _sight_params(sight: Sight) -> dict[str, Any]:
    return {
        "user": sight.user_id,
        "guild": sight.guild_id,
        "channels": json.dumps(sorted(sight.channel_ids)),
        "others_spoilered": int(sight.others_spoilered),
        "everything": int(sight.everything),
    }


def _gallery_image(row: sqlite3.Row) -> GalleryImage:
    return GalleryImage(
        image=image_from_row(row),
        requester_id=row["requester_id"],
        guild_id=row["job_guild_id"],
        kind=row["job_kind"],
        spoiler=bool(row["spoilered"]),
        favourite=bool(row["favourite"]),
        posted=bool(row["posted"]),
    )


def _filters(query: ImageQuery, params: dict[str, Any]) -> list[str]:
    """The WHERE clauses of `query` beyond visibility, adding their parameters to `params`."""
    where = [_IN_SERVER if query.scope == "server" else "jobs.requester_id = :user"]
    if query.match:
        where.append("images.id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH :match)")
        params["match"] = query.match
    for n, pattern in enumerate(query.like):
        where.append(f"images.prompt LIKE :like{n} ESCAPE '\\'")
        params[f"like{n}"] = pattern
    if query.model is not None:
        where.append("(images.model = :model COLLATE NOCASE OR json_extract(images.params, '$.base_model') = :model)")
        params["model"] = query.model
    if query.lora is not None:
        where.append(
            """(images.model = :lora COLLATE NOCASE OR EXISTS (SELECT 1 FROM json_each(images.loras) AS l
                WHERE json_extract(l.value, '$[0]') = :lora COLLATE NOCASE))"""
        )
        params["lora"] = query.lora
    if query.since is not None:
        where.append("images.created_at >= :since")
        params["since"] = ts_to_db(query.since)
    if query.until is not None:
        where.append("images.created_at < :until")
        params["until"] = ts_to_db(query.until)
    if query.favourites:
        where.append("EXISTS (SELECT 1 FROM favourites AS f WHERE f.image_id = images.id AND f.user_id = :user)")
    if query.collection_id is not None:
        where.append(
            """EXISTS (SELECT 1 FROM collection_items AS ci
                       WHERE ci.image_id = images.id AND ci.collection_id = :collection)"""
        )
        params["collection"] = query.collection_id
    if query.before_id is not None:
        where.append("images.id < :before")
        params["before"] = query.before_id
    return where


class GalleryRepository(Repository):
    async def search(self, sight: Sight, query: ImageQuery) -> list[GalleryImage]:
        """The newest `query.limit` images `sight` may see that match `query`, newest (highest id) first."""
        params = _sight_params(sight)
        where = [_VISIBLE, *_filters(query, params)]
        params["limit"] = query.limit
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY images.id DESC LIMIT :limit"
        return [_gallery_image(row) for row in await self._db.fetchall(sql, params)]

    async def visible(self, sight: Sight, image_ids: Iterable[int]) -> dict[int, GalleryImage]:
        """Those of `image_ids` that `sight` may see, by id (the others are absent, as if they did not exist)."""
        ids = sorted(set(image_ids))
        if not ids:
            return {}
        params = _sight_params(sight)
        params["ids"] = json.dumps(ids)
        sql = f"{_SELECT} WHERE images.id IN (SELECT value FROM json_each(:ids)) AND {_VISIBLE}"  # noqa: S608
        return {row["id"]: _gallery_image(row) for row in await self._db.fetchall(sql, params)}

    async def of_job(self, sight: Sight, job_id: int) -> list[GalleryImage]:
        """The images of job `job_id` that `sight` may see, by index."""
        params = _sight_params(sight)
        params["job"] = job_id
        sql = f"{_SELECT} WHERE images.job_id = :job AND {_VISIBLE} ORDER BY images.idx"
        return [_gallery_image(row) for row in await self._db.fetchall(sql, params)]

    async def sets_holding(self, image_id: int) -> list[TrainingSet]:
        """The training sets an image is in, by name."""
        rows = await self._db.fetchall(
            """SELECT s.* FROM training_sets AS s
               WHERE s.id IN (SELECT set_id FROM training_items WHERE image_id = ?) ORDER BY s.name_key""",
            (image_id,),
        )
        return [training_set_from_row(row) for row in rows]

    async def delete_images(self, image_ids: Sequence[int]) -> tuple[Path, ...]:
        """Delete these images, in one transaction; returns the files that no remaining row names (to unlink).

        Their posts, reactions, stars and collection entries go with them. A training set keeps its own copy of an
        image (another member's set stays whole): its items only lose the link to the deleted image. A job whose
        last image goes loses its grid file too.
        """
        ids = json.dumps(sorted(set(image_ids)))
        async with self._db.transaction():
            rows = await self._db.fetchall(
                "SELECT id, job_id, path FROM images WHERE id IN (SELECT value FROM json_each(?))", (ids,)
            )
            if not rows:
                return ()
            jobs = sorted({row["job_id"] for row in rows})
            candidates = [Path(row["path"]) for row in rows]
            await self._db.execute(
                "UPDATE training_items SET image_id = NULL WHERE image_id IN (SELECT value FROM json_each(?))", (ids,)
            )
            for row in rows:
                await self._db.execute(
                    "DELETE FROM job_files WHERE job_id = ? AND path = ?", (row["job_id"], row["path"])
                )
            await self._db.execute("DELETE FROM images WHERE id IN (SELECT value FROM json_each(?))", (ids,))
            for job_id in jobs:
                left = await self._db.fetchone("SELECT COUNT(*) FROM images WHERE job_id = ?", (job_id,))
                if left is not None and left[0] == 0:
                    grids = await self._db.fetchall(
                        "SELECT path FROM job_files WHERE job_id = ? AND role = 'grid'", (job_id,)
                    )
                    candidates.extend(Path(g["path"]) for g in grids)
                    await self._db.execute("DELETE FROM job_files WHERE job_id = ? AND role = 'grid'", (job_id,))
            still = {
                row["path"]
                for row in await self._db.fetchall(
                    "SELECT path FROM job_files UNION SELECT path FROM images UNION SELECT path FROM training_items"
                )
            }
        return tuple(dict.fromkeys(p for p in candidates if str(p) not in still))
