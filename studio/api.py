"""What the Discord layer and the CLI may ask of the services, and what they get back.

The services never import discord; the Discord adapter implements `DeliveryPort` to put job
progress and results in front of users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from studio.training.results import CheckpointPost, TrainingResult

if TYPE_CHECKING:
    from studio.autopost.api import AutopostApi
    from studio.training.api import TrainingApi
    from studio.trainsets.api import CurationApi, SheetsApi, TrainsetsApi

VaryStrength = Literal["subtle", "strong"]
# Bounds of what the adapters may send (the Discord options declare the same ranges).
MAX_INSTRUCTION = 500  # /vary and /edit
MAX_REGION = 100  # /edit region, in words
MAX_DESCRIBE = 8  # /describe prompts
# Where a request comes from: a member's slash command or button, the `studio` command line on the
# bot's own machine (no guild policy), or a schedule firing (exempt from role lists, charged to the
# server, posted without mentioning anyone).
Origin = Literal["interaction", "cli", "schedule"]


@dataclass(frozen=True)
class Caller:
    """Who asks, and where: enough for every policy check."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    role_ids: tuple[int, ...] = ()
    is_moderator: bool = False  # Manage Messages, or Manage Server, in that guild
    is_manager: bool = False  # Manage Server in that guild
    origin: Origin = "interaction"
    # The interaction that asked, when there is one: its token lets delivery edit the reply for 15 minutes.
    interaction_token: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    token_expires_at: datetime | None = None


@dataclass(frozen=True)
class GenerateInput:
    """The /generate options as typed by a user; None means 'the model's default'."""

    prompt: str
    count: int | None = None
    model: str | None = None
    negative: str | None = None
    aspect: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    lora_scale: float | None = None
    scheduler: str | None = None  # engine.catalog.SCHEDULERS; None = the model's default


@dataclass(frozen=True)
class JobTicket:
    """A job accepted into the queue."""

    job_id: int
    position: int  # 0 = running or next
    eta_s: float | None


@dataclass(frozen=True)
class ResultImage:
    """One delivered image: its database id, index in the job, file and seed."""

    image_id: int
    index: int
    path: Path
    seed: int
    width: int
    height: int


@dataclass(frozen=True)
class JobResult:
    """A finished job, ready to render: the grid, the images, the parameters shown to users."""

    job_id: int
    kind: str
    requester_id: int
    prompt: str
    negative_prompt: str
    model: str
    loras: tuple[tuple[str, float], ...]
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    images: tuple[ResultImage, ...]
    grid_path: Path | None
    spoiler: bool = False
    note: str | None = None  # e.g. the output prompt of /vary, shown above the images
    # Files shown with the result besides the images, e.g. the mask overlay of /edit (attached after them).
    extra_files: tuple[Path, ...] = ()
    quick_select: bool = False  # the last group of a character sheet: a button adds the sheet to a set


@dataclass(frozen=True)
class DescribeResult:
    """The candidate prompts /describe found for an image, stored with its job (buttons refer to them)."""

    job_id: int
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class VaryImageInput:
    """The /vary options: the instruction merges with a caption of the image into the output prompt."""

    instruction: str
    strength: float | None = None  # None: the composer's suggestion for this kind of change
    count: int | None = None
    model: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class EditImageInput:
    """The /edit options; the mask comes as an upload, or from `region` (words naming a part of the image)."""

    instruction: str
    region: str | None = None
    count: int | None = None
    model: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class BatchTickets:
    """Jobs started together (e.g. "generate all"); `refused` says why the rest did not start."""

    tickets: tuple[JobTicket, ...]
    refused: str | None = None


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    eta_s: float | None
    label: str = "Generating"  # what the job's kind is doing: "Generating", "Describing", "Training", ...
    detail: str | None = None  # what the step says besides its number: "loss 0.123, 2.1 samples/s"
    image: Path | None = None  # a picture of the work so far (a training's newest sample grid)


@dataclass(frozen=True)
class QueueEntry:
    job_id: int
    kind: str
    requester_id: int
    status: str
    position: int  # in the job's lane
    eta_s: float | None
    summary: str  # the kind's one-line summary (a prompt, a set name, ...); hidden outside its server
    lane: str = "interactive"


@dataclass(frozen=True)
class QueueView:
    running: tuple[QueueEntry, ...]
    waiting: tuple[QueueEntry, ...]
    mine: tuple[QueueEntry, ...] = field(default=())


@dataclass(frozen=True)
class ModelChoice:
    """One autocomplete entry: `value` is what the command receives."""

    value: str
    label: str


@dataclass(frozen=True)
class ModelInfo:
    """One model as users see it in /models."""

    name: str
    display_name: str
    kind: str  # base | lora
    family: str
    vram_gb: float | None
    quality: int | None
    speed: int | None
    default_steps: int | None
    default_guidance: float | None
    default_size: tuple[int, int] | None
    trigger_word: str | None
    base_model: str | None
    description: str
    licence: str | None = None  # the weights' licence, when it limits use (FLUX.1 [dev] is non-commercial)
    memory: str | None = None  # how much free GPU memory each way of holding it needs (FLUX.1)


@dataclass(frozen=True)
class JobRoute:
    """Where a job's messages go. Built from the job's row, so it survives a restart."""

    job_id: int
    requester_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None  # the message that shows the job (status, then result), once known
    interaction_token: str | None = field(repr=False)  # a secret, valid until token_expires_at (15 minutes)
    token_expires_at: datetime | None
    origin: Origin = "interaction"

    @property
    def mention(self) -> bool:
        """Whether a new channel message may ping the requester (a schedule's post pings nobody)."""
        return self.origin == "interaction"


# What `DeliveryPort.delivered` and `posted` show, by type: images, a trained LoRA's card, a checkpoint's grid.
Deliverable = JobResult | TrainingResult | CheckpointPost


class DeliveryPort(Protocol):
    """Implemented once by the Discord adapter (and by the CLI) to show every job's life to its requester.

    One instance serves all jobs: everything it needs is in the route, so jobs recovered after a
    restart are delivered the same way. A method that returns a message id lets the service remember
    which message shows the job (buttons and reactions are found through it).
    """

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None: ...

    async def progress(self, route: JobRoute, progress: Progress) -> None: ...

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None: ...

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        """Show one more message for the job in its channel (a checkpoint's grid, say); returns its id."""
        ...

    async def failed(self, route: JobRoute, message: str) -> None: ...

    async def cancelled(self, route: JobRoute) -> None: ...


@dataclass(frozen=True)
class SettingView:
    """One guild setting as shown by /settings."""

    name: str
    value: str
    help: str


class QueueApi(Protocol):
    """The queue every kind of job shares: cancel a job, look at the queue."""

    async def cancel(self, caller: Caller, job_id: int) -> None: ...

    async def queue(self, caller: Caller) -> QueueView: ...


class GenerateApi(Protocol):
    """/generate: validates, persists, queues; progress and results go through the DeliveryPort."""

    async def submit(self, caller: Caller, options: GenerateInput) -> JobTicket: ...


class FollowUpsApi(Protocol):
    """The buttons under a finished result."""

    async def reroll(self, caller: Caller, job_id: int) -> JobTicket: ...

    async def remix(self, caller: Caller, job_id: int, prompt: str) -> JobTicket: ...

    async def remix_prompt(self, job_id: int) -> str: ...

    async def vary(self, caller: Caller, job_id: int, index: int, strength: VaryStrength) -> JobTicket: ...

    async def upscale(self, caller: Caller, job_id: int, index: int) -> ResultImage: ...

    async def delete(self, caller: Caller, job_id: int) -> None: ...

    async def result(self, job_id: int) -> JobResult: ...


class DescribeApi(Protocol):
    """/describe. `image` is an attachment's bytes, checked by the service (type by content, byte and
    pixel limits) before any work; a refusal is a StudioError that says what to do."""

    async def describe(self, caller: Caller, image: bytes, count: int = 4) -> DescribeResult:
        """Queue a describe job, wait for it, return `count` (1-8) candidate prompts."""
        ...

    async def described(self, job_id: int) -> DescribeResult:
        """The prompts of a finished describe job (from the database: works after a restart)."""
        ...

    async def generate_described(self, caller: Caller, job_id: int, index: int | None) -> BatchTickets:
        """/generate with prompt `index` (0-based) of a describe job, or with each of them (one image each)."""
        ...


class EditsApi(Protocol):
    """/vary and /edit: an uploaded image changed by an instruction (`mask` is an attachment's bytes too)."""

    async def vary_image(self, caller: Caller, image: bytes, options: VaryImageInput) -> JobTicket: ...

    async def edit_image(
        self, caller: Caller, image: bytes, options: EditImageInput, mask: bytes | None = None
    ) -> JobTicket: ...


@dataclass(frozen=True)
class PostedImage:
    """The image a reaction on a message points at."""

    image_id: int
    job_id: int
    index: int  # in its job, from 0
    path: Path
    message_id: int
    number: int  # on the message, from 1


class PostsApi(Protocol):
    """Which images the bot's messages show: written when a result is posted, read by reactions."""

    async def record(
        self, message_id: int, image_ids: tuple[int, ...], role: str, *, channel_id: int | None, guild_id: int | None
    ) -> None: ...

    async def image_for_reaction(self, message_id: int, emoji: str) -> PostedImage | None:
        """⭐ on a single-image message, keycap n on a message of several: the image meant; else None."""
        ...


class ModelsApi(Protocol):
    async def autocomplete(self, current: str) -> list[ModelChoice]: ...

    async def catalog(self) -> list[ModelInfo]: ...


class GuildSettingsApi(Protocol):
    async def show(self, guild_id: int) -> list[SettingView]: ...

    async def update(self, caller: Caller, name: str, value: str) -> list[SettingView]: ...


class BotServices(Protocol):
    """Everything the Discord adapter may ask of the services, handed to the bot as one bundle."""

    @property
    def jobs(self) -> QueueApi: ...

    @property
    def generate(self) -> GenerateApi: ...

    @property
    def followups(self) -> FollowUpsApi: ...

    @property
    def describe(self) -> DescribeApi: ...

    @property
    def edits(self) -> EditsApi: ...

    @property
    def posts(self) -> PostsApi: ...

    @property
    def models(self) -> ModelsApi: ...

    @property
    def guild_settings(self) -> GuildSettingsApi: ...

    @property
    def trainsets(self) -> TrainsetsApi: ...

    @property
    def training(self) -> TrainingApi: ...

    @property
    def autopost(self) -> AutopostApi: ...

    @property
    def curation(self) -> CurationApi: ...

    @property
    def sheets(self) -> SheetsApi: ...
