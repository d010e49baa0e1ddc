"""What the Discord layer and the CLI may ask of training sets, and what they get back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from studio.contract import Caller

RECOMMENDED_IMAGES = (20, 30)  # the reference workflow: pick 20-30 of a character's images
MAX_ITEMS = 200  # per set: far above what a LoRA wants, low enough to list and check quickly
MAX_CAPTION = 500
MAX_TRIGGER = 50
OUTLIER_MIN_SET = (
    5  # engine.training.checks looks for images unlike the rest from this many on (a test keeps them equal)
)


@dataclass(frozen=True)
class TrainsetInfo:
    """A set as /trainset list shows it."""

    id: int
    name: str
    owner_id: int
    size: int
    trigger_word: str | None
    base_model: str | None
    locked: bool
    active: bool  # the caller's reactions feed this set


@dataclass(frozen=True)
class TrainsetItem:
    """One image of a set; `number` is its place in the set, as users refer to it."""

    number: int
    item_id: int
    path: Path
    caption: str | None
    caption_by_member: bool
    added_by: int
    added_at: datetime
    source: str  # reaction, upload, sheet
    image_id: int | None = None  # the studio image it was picked from (None: an upload)


@dataclass(frozen=True)
class ImageVerdict:
    number: int
    notes: tuple[str, ...]  # why the image is weak: "blurry", "near-duplicate of #3", ...


@dataclass(frozen=True)
class SetVerdict:
    """The checks before training: the set's count, and each weak image by number."""

    count: int
    min_images: int
    ready: bool  # no hard failure: enough images, none unreadable
    summary: str  # one line for users
    flagged: tuple[ImageVerdict, ...]
    outliers_checked: bool  # False when no image embedder could be loaded


@dataclass(frozen=True)
class TrainsetView:
    """/trainset show: the set, its images in order, a numbered contact sheet and the verdict."""

    info: TrainsetInfo
    items: tuple[TrainsetItem, ...]
    contact_sheet: bytes | None  # PNG; None for an empty set
    verdict: SetVerdict


class TrainsetsApi(Protocol):
    """Training sets; `name` None means the caller's active set. Refusals are StudioErrors saying what to do."""

    async def create(
        self, caller: Caller, name: str, trigger_word: str | None = None, base_model: str | None = None
    ) -> TrainsetInfo: ...

    async def use(self, caller: Caller, name: str) -> TrainsetInfo: ...

    async def list(self, caller: Caller) -> list[TrainsetInfo]: ...

    async def show(self, caller: Caller, name: str | None = None) -> TrainsetView: ...

    async def add(self, caller: Caller, image: bytes, name: str | None = None) -> TrainsetItem: ...

    async def item(self, caller: Caller, number: int, name: str | None = None) -> TrainsetItem:
        """Image `number` of the set, for whoever may see the set (its file, for a page)."""
        ...

    async def remove(self, caller: Caller, number: int, name: str | None = None) -> TrainsetItem: ...

    async def caption(self, caller: Caller, number: int, text: str, name: str | None = None) -> TrainsetItem: ...

    async def lock(self, caller: Caller, name: str, locked: bool) -> TrainsetInfo: ...

    async def deletable(self, caller: Caller, name: str) -> TrainsetInfo:
        """Check that `caller` may delete the set (owner or Manage Server); nothing is deleted yet."""
        ...

    async def delete(self, caller: Caller, set_id: int) -> str:
        """Delete the set, its items and their files; returns its name."""
        ...

    async def check(self, caller: Caller, name: str | None = None) -> SetVerdict: ...


@dataclass(frozen=True)
class SheetStarted:
    """A character sheet as queued: its jobs, its groups (name, images), the wait until the last is posted."""

    job_ids: tuple[int, ...]
    groups: tuple[tuple[str, int], ...]
    eta_s: float | None
    method: str  # how identity is kept: "image-to-image from the reference", ...


class SheetsApi(Protocol):
    async def start(
        self, caller: Caller, image: bytes, count: int = 30, set_name: str | None = None, model: str | None = None
    ) -> SheetStarted:
        """Queue a character sheet of `count` variations of the reference image, in groups."""
        ...

    async def quick_select(self, caller: Caller, job_id: int) -> tuple[str, int, int]:
        """Add the first 25 images of the sheet whose last group is `job_id` to its set, or to the clicking
        member's active set: (set name, images added, images the sheet has)."""
        ...


class CurationApi(Protocol):
    """Picking the bot's result images into training sets, by image id; `set_name` None: the caller's active set.

    Refusals are StudioErrors in one line: no such image (or one made in another server), no active set, a
    locked or full set, the server's role list, an image already in the set (pick) or not in it (unpick).
    """

    async def pick(self, caller: Caller, set_name: str | None, image_id: int) -> tuple[TrainsetItem, int | None]:
        """Copy result image `image_id` into the set: the new item, and the job that captions it."""
        ...

    async def unpick(self, caller: Caller, set_name: str | None, image_id: int) -> TrainsetItem:
        """Take image `image_id` out of the set (whoever added it, the set's owner or a moderator may); the item."""
        ...
