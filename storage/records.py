"""Frozen dataclasses the repositories return. Timestamps are timezone-aware UTC datetimes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
Origin = Literal["interaction", "cli", "schedule", "web"]
ItemSource = Literal["reaction", "upload", "sheet"]  # how an image entered a training set
ACTIVE_STATUSES: tuple[str, ...] = ("queued", "running")
TERMINAL_STATUSES: tuple[str, ...] = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    status: JobStatus
    request: dict[str, Any]
    requester_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None  # the status/result message
    interaction_token: str | None = field(repr=False)  # a secret: kept out of logs
    token_expires_at: datetime | None
    origin: Origin  # interaction, cli, schedule or web
    lane: str  # interactive or batch
    priority: int
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    delivered: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class RecoveryReport:
    """What `JobRepository.recover_stale` did with the jobs a crash left running."""

    requeued: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    completed: tuple[int, ...] = ()  # already delivered before the crash


@dataclass(frozen=True)
class ImageRecord:
    id: int
    job_id: int
    index: int
    path: Path
    sha256: str
    size_bytes: int
    width: int
    height: int
    seed: int
    prompt: str
    negative_prompt: str
    model: str
    loras: tuple[tuple[str, float], ...]
    params: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class JobFile:
    """A file a job read or wrote; `role` says what it was to the job (source, mask, output, grid, ...)."""

    job_id: int
    path: Path
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Post:
    """One image on a message the bot posted; `number` is its place as users count it (1-based)."""

    message_id: int
    number: int
    image_id: int
    role: str  # grid, single, sheet, autopost
    channel_id: int | None
    guild_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    display_name: str
    kind: Literal["base", "lora"]
    family: str
    category: str
    source: str  # a local path or a hub id
    base_model: str | None  # for a LoRA: the name of its base model
    trigger_word: str | None
    config: dict[str, Any]
    active: bool
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True)
class TrainingSet:
    id: int
    name: str
    guild_id: int | None
    owner_id: int
    trigger_word: str | None
    base_model: str | None
    created_at: datetime
    locked: bool = False  # only the owner adds to a locked set


@dataclass(frozen=True)
class TrainingItem:
    id: int
    set_id: int
    image_id: int | None
    path: Path  # the set's own copy of the image
    caption: str | None
    added_by: int
    created_at: datetime
    source: ItemSource = "upload"
    caption_source: Literal["auto", "user"] = "auto"  # a member's correction is never overwritten
    message_id: int | None = None  # the reaction that added it: removing the reaction removes the item
    emoji: str | None = None


@dataclass(frozen=True)
class Reaction:
    message_id: int
    image_id: int | None
    user_id: int
    emoji: str
    created_at: datetime


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    guild_id: int | None
    channel_id: int
    cron: str
    prompt: str
    model: str | None
    params: dict[str, Any]
    enabled: bool
    created_by: int
    last_run_at: datetime | None
    created_at: datetime
    last_slot: datetime | None = None  # the newest slot claimed (posted, or being posted)
    paused_reason: str | None = None  # why it does not run (enabled is False): a member, or a lost channel
    home_channel_id: int | None = None  # where it was made: problems are told there
    last_result: str | None = None  # what its last run did, for /autopost list


@dataclass(frozen=True)
class DeletionReport:
    """What `Database.delete_user_data` removed; the caller deletes the listed files from disk."""

    user_id: int
    counts: Mapping[str, int] = field(default_factory=dict)
    image_paths: tuple[Path, ...] = ()  # files of the user's generated images
    training_paths: tuple[Path, ...] = ()  # files of removed training items not already in image_paths
    job_paths: tuple[Path, ...] = ()  # other files of the user's jobs (job_files) that no remaining row names

    @property
    def total(self) -> int:
        return sum(self.counts.values())


NsfwPolicy = Literal["block", "spoiler"]


@dataclass(frozen=True)
class GuildSettings:
    """Per-guild policy. The defaults and bounds below are the only place they are declared.

    `allowed_role_ids` empty means everyone may generate; `daily_quota` 0 means no daily limit;
    `max_size` bounds the longest side in pixels; `blocked_words` are lower-case.
    """

    allowed_role_ids: tuple[int, ...] = ()
    max_count: int = field(default=8, metadata={"min": 1, "max": 8})
    max_steps: int = field(default=50, metadata={"min": 1, "max": 150})
    max_size: int = field(default=1024, metadata={"min": 256, "max": 4096})
    max_concurrent_per_user: int = field(default=2, metadata={"min": 1, "max": 20})
    daily_quota: int = field(default=100, metadata={"min": 0, "max": 100_000})
    blocked_words: tuple[str, ...] = field(default=(), metadata={"max_items": 200, "max_len": 100})
    nsfw_policy: NsfwPolicy = field(default="block", metadata={"choices": ("block", "spoiler")})
    serve_dms: bool = False
    # Training sets: how many images a set needs before it may be trained, and whether members may upload
    # images to sets (off: sets hold only images made in this server).
    min_training_images: int = field(default=20, metadata={"min": 1, "max": 500})
    training_uploads: bool = True
    # Who may start a LoRA training: members with Manage Server, and these roles.
    trainer_role_ids: tuple[int, ...] = ()
    # Auto-posts: no two runs of a schedule closer than this; schedules read in this IANA time zone.
    autopost_min_minutes: int = field(default=15, metadata={"min": 1, "max": 10_080})
    timezone: str = field(default="UTC", metadata={"timezone": True})


RunStatus = Literal["planned", "started", "done", "stopped", "dropped"]


@dataclass(frozen=True)
class TrainingRun:
    """A LoRA training: planned, then started as a job; `result` holds what the trainer made."""

    id: int
    guild_id: int
    requester_id: int | None  # None once that member's data was deleted
    set_id: int | None
    set_name: str
    output_name: str
    base_model: str
    trigger_word: str | None
    plan: dict[str, Any]  # the plan as JSON, opaque to storage (the core types it: studio.training.plans)
    status: RunStatus
    job_id: int | None
    model_name: str | None  # the model it registered
    chosen_step: int | None  # the checkpoint the registered model uses
    result: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class TrainingCheckpoint:
    id: int
    run_id: int
    step: int
    lora_path: Path
    samples_path: Path | None
    loss: float | None
    consistency: float | None
    likeness: float | None
    message_id: int | None  # the post of its sample grid, where members vote with 👍
    votes: int = 0


@dataclass(frozen=True)
class GalleryImage:
    """An image as the gallery lists it: the image, who asked for it and where, and the viewer's star on it."""

    image: ImageRecord
    requester_id: int
    guild_id: int | None  # the server the job was made in (None: a direct message or the command line)
    kind: str  # the job's kind (generate, vary, edit, sheet, autopost)
    spoiler: bool  # the job's results were spoilered (adult content under the server's policy)
    favourite: bool  # starred by the viewer the query was made for
    posted: bool  # shown on at least one message in a server's channel


@dataclass(frozen=True)
class Collection:
    """A member's named group of images; the name is kept as typed and unique per owner and server by its key."""

    id: int
    owner_id: int
    guild_id: int | None
    name: str
    created_at: datetime
    size: int = 0  # images in it


@dataclass(frozen=True)
class ApiToken:
    """A bearer token for scripts; only the SHA-256 of the secret is stored."""

    id: int
    user_id: int
    guild_id: int | None
    name: str
    created_at: datetime
    last_used_at: datetime | None
