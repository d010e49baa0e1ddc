"""Fixtures: the fake Discord, in-memory services behind the contract's Protocols, and logged-in bots.

`MemoryJobs`, `MemoryModels` and `MemoryGuildSettings` keep plain dict state; the real services can
replace them by changing the `services` fixture only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.client import StudioBot
from bot.services.api import (
    Caller,
    DeliveryPort,
    GenerateInput,
    JobResult,
    JobRoute,
    JobTicket,
    ModelChoice,
    ModelInfo,
    Progress,
    QueueEntry,
    QueueView,
    ResultImage,
    SettingView,
    VaryStrength,
)
from bot.services.errors import NotFound, Refused
from bot.settings import load_settings
from tests.bot.fakediscord import FakeDiscord


@dataclasses.dataclass
class Job:
    job_id: int
    kind: str
    caller: Caller
    prompt: str
    options: GenerateInput
    status: str = "queued"
    parent: int | None = None
    result: JobResult | None = None
    token: str | None = None  # set by tests that play a service which persists the token
    token_expires_at: datetime | None = None
    message_id: int | None = None


class MemoryJobs:
    """JobsApi over dicts; tests drive progress and results through the delivery port."""

    def __init__(self, images_dir: Path) -> None:
        self.images_dir = images_dir
        self.delivery: DeliveryPort | None = None
        self.jobs: dict[int, Job] = {}
        self.calls: list[tuple[str, Caller | None, tuple[Any, ...]]] = []
        self.raise_next: BaseException | None = None
        self._next_id = 1

    def _check(self) -> None:
        if self.raise_next is not None:
            error, self.raise_next = self.raise_next, None
            raise error

    def _job(self, job_id: int) -> Job:
        if job_id not in self.jobs:
            raise NotFound(f"Job #{job_id} does not exist.")
        return self.jobs[job_id]

    def _new(self, kind: str, caller: Caller, options: GenerateInput, parent: int | None = None) -> JobTicket:
        job = Job(self._next_id, kind, caller, options.prompt, options, parent=parent)
        self._next_id += 1
        self.jobs[job.job_id] = job
        waiting = sum(1 for j in self.jobs.values() if j.status == "queued") - 1
        return JobTicket(job.job_id, waiting, 12.0 * (waiting + 1))

    def route(self, job_id: int) -> JobRoute:
        job = self._job(job_id)
        return JobRoute(
            job_id=job_id,
            requester_id=job.caller.user_id,
            guild_id=job.caller.guild_id,
            channel_id=job.caller.channel_id,
            message_id=job.message_id,
            interaction_token=job.token,
            token_expires_at=job.token_expires_at,
        )

    async def submit_generate(self, caller: Caller, options: GenerateInput) -> JobTicket:
        self.calls.append(("submit_generate", caller, (options,)))
        self._check()
        return self._new("generate", caller, options)

    async def reroll(self, caller: Caller, job_id: int) -> JobTicket:
        self.calls.append(("reroll", caller, (job_id,)))
        self._check()
        return self._new("reroll", caller, self._job(job_id).options, parent=job_id)

    async def remix(self, caller: Caller, job_id: int, prompt: str) -> JobTicket:
        self.calls.append(("remix", caller, (job_id, prompt)))
        self._check()
        options = dataclasses.replace(self._job(job_id).options, prompt=prompt)
        return self._new("remix", caller, options, parent=job_id)

    async def vary(self, caller: Caller, job_id: int, index: int, strength: VaryStrength) -> JobTicket:
        self.calls.append(("vary", caller, (job_id, index, strength)))
        self._check()
        return self._new(f"vary-{strength}", caller, self._job(job_id).options, parent=job_id)

    async def upscale(self, caller: Caller, job_id: int, index: int) -> ResultImage:
        self.calls.append(("upscale", caller, (job_id, index)))
        self._check()
        result = self._job(job_id).result
        if result is None:
            raise Refused("That job has no images yet.")
        image = next((i for i in result.images if i.index == index), None)
        if image is None:
            raise NotFound(f"Job #{job_id} has no image {index}.")
        return dataclasses.replace(image, width=image.width * 2, height=image.height * 2)

    async def delete(self, caller: Caller, job_id: int) -> None:
        self.calls.append(("delete", caller, (job_id,)))
        self._check()
        job = self._job(job_id)
        if job.caller.user_id != caller.user_id and not caller.is_moderator:
            raise Refused("Only the requester or a moderator can delete this.")
        del self.jobs[job_id]

    async def cancel(self, caller: Caller, job_id: int) -> None:
        self.calls.append(("cancel", caller, (job_id,)))
        self._check()
        job = self._job(job_id)
        if job.status not in ("queued", "running"):
            raise Refused("That job already finished.")
        job.status = "cancelled"
        assert self.delivery is not None
        await self.delivery.cancelled(self.route(job_id))

    async def queue(self, caller: Caller) -> QueueView:
        self.calls.append(("queue", caller, ()))
        entries = [
            QueueEntry(j.job_id, j.kind, j.caller.user_id, j.status, pos, 10.0 * pos, j.prompt)
            for pos, j in enumerate(j for j in self.jobs.values() if j.status in ("queued", "running"))
        ]
        return QueueView(
            running=tuple(e for e in entries if e.status == "running"),
            waiting=tuple(e for e in entries if e.status == "queued"),
            mine=tuple(e for e in entries if e.requester_id == caller.user_id),
        )

    async def result(self, job_id: int) -> JobResult:
        result = self._job(job_id).result
        if result is None:
            raise NotFound(f"Job #{job_id} has no result yet.")
        return result

    async def remix_prompt(self, job_id: int) -> str:
        return self._job(job_id).prompt

    # -- what the real service's worker would do --------------------------------------------------

    def make_result(
        self, job_id: int, *, count: int = 4, image_bytes: int = 2048, grid_bytes: int = 4096, **extra: Any
    ) -> JobResult:
        job = self._job(job_id)
        folder = self.images_dir / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        images = []
        for index in range(1, count + 1):
            path = folder / f"{index}.png"
            path.write_bytes(bytes([index % 256]) * image_bytes)
            images.append(ResultImage(100 + index, index, path, 1000 + index, 64, 64))
        grid = folder / "grid.png"
        grid.write_bytes(b"g" * grid_bytes)
        fields: dict[str, Any] = {
            "job_id": job_id,
            "kind": job.kind,
            "requester_id": job.caller.user_id,
            "prompt": job.prompt,
            "negative_prompt": job.options.negative or "",
            "model": job.options.model or "tiny-sd",
            "loras": (("style-a", 0.8),),
            "seed": 1234,
            "steps": job.options.steps or 4,
            "guidance": job.options.guidance or 5.0,
            "width": 64,
            "height": 64,
            "images": tuple(images),
            "grid_path": grid if count > 1 else None,
        }
        fields.update(extra)
        result = JobResult(**fields)
        job.result = result
        return result

    async def finish(self, job_id: int, **kwargs: Any) -> int | None:
        """Deliver a result the way the service would: through the port, with the persisted route."""
        result = self.make_result(job_id, **kwargs)
        self._job(job_id).status = "done"
        assert self.delivery is not None
        message_id = await self.delivery.delivered(self.route(job_id), result)
        self._job(job_id).message_id = message_id
        return message_id

    async def step(self, job_id: int, step: int, total: int) -> None:
        self._job(job_id).status = "running"
        assert self.delivery is not None
        await self.delivery.progress(self.route(job_id), Progress(job_id, step, total, 3.0))


class MemoryModels:
    def __init__(self, count: int = 30) -> None:
        self.infos = [
            ModelInfo(
                name=f"model-{i:02d}",
                display_name=f"Model {i:02d}",
                kind="base" if i % 3 else "lora",
                family="sd15" if i % 2 else "sdxl",
                vram_gb=4.0 + i % 4,
                quality=1 + i % 5,
                speed=1 + (i + 2) % 5,
                default_steps=20,
                default_guidance=7.0,
                default_size=(512, 512),
                trigger_word=f"trig{i}" if i % 3 == 0 else None,
                base_model="model-01" if i % 3 == 0 else None,
                description="random weights, noise images" if i == 1 else "",
            )
            for i in range(1, count + 1)
        ]
        self.queries: list[str] = []

    async def autocomplete(self, current: str) -> list[ModelChoice]:
        self.queries.append(current)
        needle = current.lower()
        # Deliberately not capped: the adapter must cap at 25.
        return [ModelChoice(m.name, m.display_name) for m in self.infos if needle in m.name.lower()]

    async def catalog(self) -> list[ModelInfo]:
        return list(self.infos)


class MemoryGuildSettings:
    def __init__(self) -> None:
        self.values: dict[int, dict[str, str]] = {}
        self.help = {"default_model": "Model used when none is given", "max_count": "Most images per job"}

    def _show(self, guild_id: int) -> list[SettingView]:
        current = self.values.setdefault(guild_id, {"default_model": "tiny-sd", "max_count": "4"})
        return [SettingView(name, value, self.help[name]) for name, value in current.items()]

    async def show(self, guild_id: int) -> list[SettingView]:
        return self._show(guild_id)

    async def update(self, caller: Caller, name: str, value: str) -> list[SettingView]:
        if not caller.is_manager or caller.guild_id is None:
            raise Refused("Only server managers can change settings.")
        if name not in self.help:
            raise Refused(f"There is no setting called {name}.")
        self._show(caller.guild_id)
        self.values[caller.guild_id][name] = value
        return self._show(caller.guild_id)


@dataclasses.dataclass
class Services:
    jobs: MemoryJobs
    models: MemoryModels
    guild_settings: MemoryGuildSettings


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    # Route.url is computed from the class attribute BASE; the webhook adapter builds Routes too.
    monkeypatch.setattr(discord.http.Route, "BASE", server.base_url)
    yield server
    await server.stop()
    assert server.problems == [], server.problems


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(MemoryJobs(tmp_path / "images"), MemoryModels(), MemoryGuildSettings())


MakeBot = Callable[..., Awaitable[StudioBot]]


@pytest.fixture
async def make_bot(fake: FakeDiscord, services: Services, tmp_path: Path) -> AsyncIterator[MakeBot]:
    """Start a StudioBot (login against the fake, no gateway) on the shared service state."""
    bots: list[StudioBot] = []

    async def start(**settings_overrides: Any) -> StudioBot:
        settings = load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path / "data", **settings_overrides)
        bot = StudioBot(settings, services.jobs, services.models, services.guild_settings)
        services.jobs.delivery = bot.delivery  # the real wiring does this in the CLI
        await bot.login("fake-token")
        fake.attach(bot)
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.close()
    assert fake.hanging() == [], "an interaction was left 'thinking…'"


@pytest.fixture
async def bot(make_bot: MakeBot) -> StudioBot:
    return await make_bot()
