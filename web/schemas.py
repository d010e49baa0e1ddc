"""The API's request and response bodies (pydantic: validated on the way in, documented in /openapi.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from studio.contract import JobTicket
from studio.images.api import ASPECTS, COUNTS, MAX_PROMPT_CHARS, MAX_SEED, SCHEDULERS, ResultImage
from studio.jobs.api import QueueEntry
from studio.models.api import ModelInfo
from web.events import image_json
from web.from_core import from_core


class ModelOut(BaseModel):
    name: str
    display_name: str
    kind: str = Field(description="base | lora")
    family: str
    trigger_word: str | None
    base_model: str | None
    description: str
    default_steps: int | None
    default_guidance: float | None
    default_size: tuple[int, int] | None
    settings: list[str] = Field(description="the model's own settings for `extras`, one line each")

    @classmethod
    def of(cls, info: ModelInfo) -> ModelOut:
        return from_core(cls, info)


class TextToImageIn(BaseModel):
    """The /generate options; an option left out takes the model's default."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    num_outputs: int = Field(default=4, description=f"one of {', '.join(map(str, COUNTS))}")
    model: str | None = None
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    aspect: str | None = Field(default=None, description=f"one of {', '.join(ASPECTS)}")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    steps: int | None = Field(default=None, ge=1)
    guidance: float | None = Field(default=None, ge=0)
    lora_scale: float | None = Field(default=None, ge=0)
    scheduler: str | None = Field(default=None, description=f"one of {', '.join(SCHEDULERS)}")
    extras: dict[str, bool | int | float | str] = Field(
        default_factory=dict, max_length=16, description='the model\'s own settings by name, e.g. {"clip_skip": 2}'
    )

    @field_validator("num_outputs")
    @classmethod
    def _count(cls, value: int) -> int:
        if value not in COUNTS:
            raise ValueError(f"num_outputs must be one of {', '.join(map(str, COUNTS))}")
        return value

    @field_validator("aspect")
    @classmethod
    def _aspect(cls, value: str | None) -> str | None:
        if value is not None and value not in ASPECTS:
            raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}")
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if value is not None and value not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}")
        return value


class TicketOut(BaseModel):
    """A job accepted into the queue: where it stands, and where to follow it."""

    job_id: int
    position: int = Field(description="in its lane; 0 = running or next")
    eta_s: float | None
    status_url: str
    events_url: str

    @classmethod
    def of(cls, ticket: JobTicket) -> TicketOut:
        job = ticket.job_id
        return from_core(cls, ticket, status_url=f"/api/generate/{job}", events_url=f"/api/jobs/{job}/events")


class ImageOut(BaseModel):
    id: int
    index: int
    url: str
    thumb: str
    width: int
    height: int
    seed: int

    @classmethod
    def of(cls, image: ResultImage) -> ImageOut:
        return cls(**image_json(image))


class JobOut(BaseModel):
    job_id: int
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    position: int | None
    eta_s: float | None
    step: int
    total: int | None = Field(description="steps in all, once the job reported one")
    summary: str
    error: str | None
    images: list[ImageOut]


class QueueEntryOut(BaseModel):
    job_id: int
    kind: str
    mine: bool
    status: str
    position: int
    eta_s: float | None
    summary: str = Field(description="hidden as '(elsewhere)' for others' jobs, as in /queue")
    lane: str

    @classmethod
    def of(cls, entry: QueueEntry, user_id: int) -> QueueEntryOut:
        return from_core(cls, entry, mine=entry.requester_id == user_id)


class QueueOut(BaseModel):
    running: list[QueueEntryOut]
    waiting: list[QueueEntryOut]


class VaryIn(BaseModel):
    index: int = Field(ge=0, description="the image's index in its job, from 0")
    strength: Literal["subtle", "strong"] = "subtle"


class UpscaleIn(BaseModel):
    index: int = Field(ge=0, description="the image's index in its job, from 0")


class RemixIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)


class Done(BaseModel):
    ok: bool = True
