"""What the adapters may ask of the image features (generate, follow-ups, describe, vary/edit, posts) and get back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

# The catalog's bounds and choices, re-exported: the adapters declare their options from these, not from the engine.
from engine import ASPECTS as ASPECTS
from engine import COUNTS as COUNTS
from engine import MAX_PROMPT_CHARS as MAX_PROMPT_CHARS
from engine import MAX_SEED as MAX_SEED
from engine import SCHEDULERS as SCHEDULERS
from engine import EngineError, parse_extras
from engine import GenerationParams as GenerationParams
from studio.contract import BatchTickets, Caller, Deliverable, JobTicket
from studio.errors import StudioError

VaryStrength = Literal["subtle", "strong"]
# Bounds of what the adapters may send (the Discord options declare the same ranges).
MAX_INSTRUCTION = 500  # /vary and /edit
MAX_REGION = 100  # /edit region, in words
MAX_DESCRIBE = 8  # /describe prompts


@dataclass(frozen=True)
class GenerateInput(GenerationParams):
    """The /generate options as typed by a user: the prompt, the picker's value and the settings (None: the
    model's default; `extras`: the family's own settings by name, e.g. {"clip_skip": "2"})."""

    prompt: str
    model: str | None = None
    lora_scale: float | None = None


def settings_from_text(text: str | None) -> dict[str, str]:
    """A family's own settings as typed in a chat option or on a command line (`clip_skip=2 …`), by name."""
    try:
        return parse_extras(text or "")
    except EngineError as exc:
        raise StudioError(exc.message) from None


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
class JobResult(Deliverable):
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
    """One image a message of the bot's shows, numbered as on the message."""

    image_id: int
    job_id: int
    index: int  # in its job, from 0
    path: Path
    message_id: int
    number: int  # on the message, from 1


class PostsApi(Protocol):
    """Which images the bot's messages show: written when a result is posted, read when a member points at one."""

    async def record(
        self, message_id: int, image_ids: tuple[int, ...], role: str, *, channel_id: int | None, guild_id: int | None
    ) -> None: ...

    async def images_on(self, message_id: int) -> tuple[PostedImage, ...]:
        """The images message `message_id` shows, by their number on it (none: not a message of results)."""
        ...
