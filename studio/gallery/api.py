"""What the adapters may ask of the gallery (browse, search, image pages, favourites, collections) and get back.

Every call takes a `Viewer`: the caller, plus what only the adapter can know about them (the channels of their server
they may view; whether they may see adult images). The core decides with it what the viewer sees: their own images,
and others' images posted in a channel they may view. An image, job or collection the viewer may not see is reported
as not found (NotFound), never as forbidden: ids are sequential, so "forbidden" would tell that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from studio.contract import Caller
from studio.images.api import JobResult

Scope = Literal["mine", "server"]  # the viewer's own images (any server), or the images of the viewer's server
DEFAULT_PAGE = 50
MAX_PAGE = 100  # a larger `limit` is cut to this
MAX_SEARCH = 200  # characters of a search text
MAX_BATCH = 100  # images per add / remove / delete call


@dataclass(frozen=True)
class Viewer:
    """Who looks, with what the adapter found they may see.

    `channel_ids`: the channels (and threads) of `caller.guild_id` the caller may view (Discord: view_channel); others'
    images count as seen only when posted in one of them. `adult`: the adapter lets this viewer see others' adult
    (spoilered) images, e.g. a member's opt-in; they are shown only where the server's NSFW policy allows them too.
    The machine's owner (`caller.bypasses_server_policy`) sees every image.
    """

    caller: Caller
    channel_ids: frozenset[int] = frozenset()
    adult: bool = False


@dataclass(frozen=True)
class ImageFilter:
    """A gallery page's question. `text` matches prompts by substring, every word of it (any case); `until` is
    exclusive; dates are aware. Pages go by id: pass the previous page's `next_before_id` as `before_id`."""

    scope: Scope = "mine"
    text: str | None = None
    model: str | None = None  # the model picked (a base model or a LoRA), or the base model that ran
    lora: str | None = None  # a LoRA the image was made with
    since: datetime | None = None
    until: datetime | None = None
    favourites: bool = False  # only the viewer's starred images
    collection_id: int | None = None  # only the images in this collection of the viewer's
    before_id: int | None = None
    limit: int = DEFAULT_PAGE


@dataclass(frozen=True)
class ImageCard:
    """One image as a gallery lists it. `path` is for serving the file; never show it (URLs carry the id)."""

    image_id: int
    job_id: int
    index: int  # in its job, from 0
    path: Path
    width: int
    height: int
    prompt: str
    model: str
    created_at: datetime
    requester_id: int
    mine: bool  # the viewer asked for it (may delete it)
    spoiler: bool  # adult content under its server's policy: blur it until clicked
    favourite: bool  # starred by the viewer


@dataclass(frozen=True)
class ImagePage:
    images: tuple[ImageCard, ...]
    next_before_id: int | None  # None: this was the last page


@dataclass(frozen=True)
class PostLink:
    """A Discord message that shows the image."""

    guild_id: int
    channel_id: int
    message_id: int
    number: int  # the image's place on the message, from 1

    @property
    def url(self) -> str:
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str  # as typed
    size: int
    guild_id: int | None  # the server it was made in
    created_at: datetime


@dataclass(frozen=True)
class ImageDetail:
    """An image page: everything needed to make it again, where it was posted, and the sets and collections it is in."""

    card: ImageCard
    kind: str  # the job's kind: generate, vary, edit, sheet, autopost
    negative_prompt: str
    seed: int
    steps: int | None
    guidance: float | None
    scheduler: str | None
    mode: str | None  # txt2img, img2img, inpaint
    strength: float | None
    base_model: str | None
    loras: tuple[tuple[str, float], ...]
    sha256: str
    size_bytes: int
    posts: tuple[PostLink, ...]  # the messages the viewer may see that show it
    sets: tuple[str, ...]  # the training sets it is in, that the viewer may see (names as typed)
    collections: tuple[CollectionInfo, ...]  # the viewer's collections that hold it
    settings: str = ""  # the model's own settings it was made with, as typed: "clip_skip=2"


@dataclass(frozen=True)
class JobView:
    """A job as the viewer may see it. Others see only done jobs with images they may see, and only those images."""

    job_id: int
    kind: str
    status: str  # queued, running, done, failed, cancelled
    mine: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None  # why it failed: the requester's only
    images: tuple[ImageCard, ...]


@dataclass(frozen=True)
class HistoryEntry:
    """One of the viewer's own jobs, with what was asked (the request's plain values: prompt, model, seed, ...)."""

    job_id: int
    kind: str
    status: str  # queued, running, done, failed, cancelled
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    parameters: dict[str, str | int | float | bool]
    image_ids: tuple[int, ...]  # the images it made that are still kept


@dataclass(frozen=True)
class HistoryPage:
    jobs: tuple[HistoryEntry, ...]
    next_before_id: int | None  # None: this was the last page


@dataclass(frozen=True)
class DeletedImages:
    image_ids: tuple[int, ...]  # the adapter drops what it cached for them (thumbnails)
    files: int  # files removed from disk


class GalleryApi(Protocol):
    """Browsing and searching images, image pages, jobs as a viewer may see them, deleting one's own images."""

    async def images(self, viewer: Viewer, filters: ImageFilter) -> ImagePage:
        """A page of the images the viewer may see that match `filters`, newest first."""
        ...

    async def image(self, viewer: Viewer, image_id: int) -> ImageCard:
        """One image, if the viewer may see it (the check before serving its file); NotFound otherwise."""
        ...

    async def detail(self, viewer: Viewer, image_id: int) -> ImageDetail: ...

    async def job(self, viewer: Viewer, job_id: int) -> JobView: ...

    async def job_result(self, viewer: Viewer, job_id: int) -> JobResult:
        """A finished image job's result holding only the images the viewer may see (the grid only if all)."""
        ...

    async def history(self, viewer: Viewer, before_id: int | None = None, limit: int = DEFAULT_PAGE) -> HistoryPage:
        """The viewer's own jobs of every kind, newest first, paged by job id like `images`."""
        ...

    async def delete(self, viewer: Viewer, image_ids: Sequence[int]) -> DeletedImages:
        """Delete the viewer's own images, rows and files; all or none (Refused for another's, NotFound for unseen).

        Training sets keep their own copies of the images they hold.
        """
        ...


class CollectionsApi(Protocol):
    """Favourites and collections: the viewer's own, holding only images the viewer may see when added."""

    async def favourite(self, viewer: Viewer, image_id: int, on: bool = True) -> bool:
        """Star (or unstar) an image; returns whether that changed anything."""
        ...

    async def list(self, viewer: Viewer) -> tuple[CollectionInfo, ...]:
        """The viewer's collections made in the viewer's server (or outside any), by name."""
        ...

    async def create(self, viewer: Viewer, name: str) -> CollectionInfo: ...

    async def get(self, viewer: Viewer, collection_id: int) -> CollectionInfo: ...

    async def rename(self, viewer: Viewer, collection_id: int, name: str) -> CollectionInfo: ...

    async def delete(self, viewer: Viewer, collection_id: int) -> str:
        """Delete a collection (not its images); returns its name."""
        ...

    async def add(self, viewer: Viewer, collection_id: int, image_ids: Sequence[int]) -> int:
        """Add images the viewer may see (all or none); returns how many were new to it."""
        ...

    async def remove(self, viewer: Viewer, collection_id: int, image_ids: Sequence[int]) -> int: ...
