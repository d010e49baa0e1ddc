"""The gallery's request and response bodies: image cards and pages, image details, collections, tokens, history."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from studio.access.api import TokenInfo
from studio.autopost.api import MAX_CAPTION, MAX_PROMPT, ScheduleView
from studio.gallery.api import MAX_BATCH, CollectionInfo, HistoryEntry, ImageCard, ImageDetail
from web.from_core import from_core


class CardOut(BaseModel):
    id: int
    job_id: int
    index: int
    url: str
    thumb: str
    page: str = Field(description="the image's page in the studio")
    width: int
    height: int
    prompt: str
    model: str
    created_at: datetime
    mine: bool = Field(description="the caller asked for it, and may delete it")
    spoiler: bool
    favourite: bool

    @classmethod
    def of(cls, card: ImageCard) -> CardOut:
        image = card.image_id
        pages = {"url": f"/media/images/{image}", "thumb": f"/media/images/{image}/thumb", "page": f"/images/{image}"}
        return from_core(cls, card, id=image, **pages)


class ImagesPageOut(BaseModel):
    images: list[CardOut]
    next_before_id: int | None = Field(description="pass as `before_id` for the next page; null: the last page")


class CollectionOut(BaseModel):
    id: int
    name: str
    size: int
    guild_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, info: CollectionInfo) -> CollectionOut:
        return from_core(cls, info)


class PostOut(BaseModel):
    url: str
    number: int


class DetailOut(BaseModel):
    image: CardOut
    kind: str
    negative_prompt: str
    seed: int
    steps: int | None
    guidance: float | None
    scheduler: str | None
    mode: str | None
    strength: float | None
    base_model: str | None
    loras: list[tuple[str, float]]
    sha256: str
    size_bytes: int
    posts: list[PostOut]
    sets: list[str]
    collections: list[CollectionOut]
    settings: str = Field(description="the model's own settings it was made with, e.g. clip_skip=2")

    @classmethod
    def of(cls, d: ImageDetail) -> DetailOut:
        return from_core(cls, d, image=CardOut.of(d.card))


class ImageIdsIn(BaseModel):
    image_ids: list[int] = Field(min_length=1, max_length=MAX_BATCH)


class DeletedOut(BaseModel):
    image_ids: list[int]
    files: int


class CountOut(BaseModel):
    changed: int = Field(description="how many images this added or removed")


class NameIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    guild_id: int | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return from_core(cls, info)


class NewTokenOut(TokenOut):
    secret: str = Field(description="shown this once: only its hash is kept")


class HistoryEntryOut(BaseModel):
    job_id: int
    kind: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    parameters: dict[str, str | int | float | bool]
    image_ids: list[int] = Field(description="the images it made that are still kept")

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryEntryOut:
        return from_core(cls, entry)


class HistoryOut(BaseModel):
    jobs: list[HistoryEntryOut]
    next_before_id: int | None


class ScheduleIn(BaseModel):
    channel_id: int = Field(description="the Discord channel to post in")
    schedule: str = Field(min_length=1, max_length=100, description="words or cron, as /autopost add takes")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    model: str | None = None
    count: int = Field(default=1, ge=1, le=8)
    caption: str | None = Field(default=None, max_length=MAX_CAPTION)
    name: str | None = Field(default=None, max_length=100)


class ScheduleOut(BaseModel):
    id: int
    name: str
    channel_id: int
    cron: str
    words: str
    timezone: str
    next_runs: list[datetime]
    prompt: str
    model: str | None
    count: int
    enabled: bool
    paused_reason: str | None
    last_run_at: datetime | None
    last_result: str | None

    @classmethod
    def of(cls, view: ScheduleView) -> ScheduleOut:
        return from_core(cls, view)
