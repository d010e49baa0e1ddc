"""Fixtures: the fake Discord, and StudioBots wired to the REAL services on a temporary data dir.

The services are `open_services(...)` wired the way `bot.runner` wires them, on the fake engine host
(`tests/fakes.py`: the engine's own tasks and files, a fake pipeline, no torch); `tiny_studio` runs
them on the real engine with the session's tiny-sd pipeline manager instead (tests marked `slow`).
Tests that need a state the engine cannot reach quickly (huge files, a library error) build it
themselves and say why.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.client import StudioBot
from bot.runner import build_bot
from engine.backends import OrderRunner
from engine.host import EngineConfig, EngineHost
from storage.records import Job
from studio.container import Services, open_services
from studio.settings import load_settings
from tests.bot.fakediscord import MANAGE_GUILD, FakeDiscord, InteractionState
from tests.fakes import FakeEngineHost

JOB_LIMIT_S = 60.0


class Studio:
    """One data dir; `open()` starts services and a logged-in bot on it, `close()` stops both (a restart)."""

    def __init__(self, fake: FakeDiscord, data_dir: Path, host: OrderRunner) -> None:
        self.fake = fake
        self.data_dir = data_dir
        self.host = host
        self._stack: contextlib.AsyncExitStack | None = None
        self._services: Services | None = None
        self._bot: StudioBot | None = None

    @property
    def services(self) -> Services:
        assert self._services is not None, "open the studio first"
        return self._services

    @property
    def bot(self) -> StudioBot:
        assert self._bot is not None, "open the studio first"
        return self._bot

    async def open(self, *, start: bool = True, **settings_overrides: Any) -> StudioBot:
        """New services and a new bot on the data dir; `start=False` leaves the queue undispatched."""
        await self.close()
        # tiny-sd unless a test names another: 4 steps, where the default tiny-world takes 20.
        pinned: dict[str, Any] = {"STUDIO_DEFAULT_MODEL": "tiny-sd"} | settings_overrides
        settings = load_settings(env_file=None, STUDIO_DATA_DIR=self.data_dir, STUDIO_DEVICE="cpu", **pinned)
        stack = contextlib.AsyncExitStack()
        services = await stack.enter_async_context(open_services(settings, host=self.host))
        bot = build_bot(settings, services)
        stack.push_async_callback(bot.close)  # runs before the services close, as in the runner
        await bot.login("fake-token")
        self.fake.attach(bot)
        self._stack, self._services, self._bot = stack, services, bot
        if start:
            await services.jobs.start()
        return bot

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def wait(self, job_id: int) -> Job:
        """The job's final row once it has ended (delivered, failed or cancelled)."""
        return await self.services.jobs.wait(job_id, limit_s=JOB_LIMIT_S)

    async def settings(self, name: str, value: str) -> None:
        """Change a guild setting through /settings, as a member with Manage Server."""
        ix = self.fake.slash("settings", name=name, value=value, permissions=MANAGE_GUILD)
        await self.fake.wait_for(lambda: ix.followups)
        reply = self.fake.messages[ix.followups[-1]]
        assert reply["embeds"] and reply["embeds"][0]["title"] == f"Updated `{name}`", reply["content"]

    async def queued_jobs(self) -> list[Job]:
        return [*await self.services.db.jobs.list_running(), *await self.services.db.jobs.fair_queue()]


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
async def studio(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Studio]:
    opened = Studio(fake, tmp_path / "data", FakeEngineHost(step_s=0.01))
    yield opened
    await opened.close()
    assert fake.hanging() == [], "an interaction was left 'thinking…'"


@pytest.fixture
async def tiny_studio(fake: FakeDiscord, tmp_path: Path, tiny_manager) -> AsyncIterator[Studio]:
    # The real engine with the tiny models the catalogs build offline (the real captioners need downloads).
    config = EngineConfig(captioner="tiny-blip", segmenter="tiny-clipseg", embedder="tiny-clip")
    opened = Studio(fake, tmp_path / "data", EngineHost(config, manager_factory=lambda: tiny_manager))
    yield opened
    await opened.close()
    assert fake.hanging() == [], "an interaction was left 'thinking…'"


MakeBot = Callable[..., Awaitable[StudioBot]]


@pytest.fixture
def make_bot(studio: Studio) -> MakeBot:
    """(Re)start services and bot on the test's data dir: `await make_bot(start=False, STUDIO_…=…)`."""
    return studio.open


@pytest.fixture
async def bot(studio: Studio) -> StudioBot:
    return await studio.open()


@pytest.fixture
def services(studio: Studio, bot: StudioBot) -> Services:
    return studio.services


# -- reading what the bot did ---------------------------------------------------------------------


def edits(fake: FakeDiscord, ix: InteractionState) -> list[dict[str, Any]]:
    """The bodies of every edit of this interaction's original response, in order."""
    path = re.compile(rf"/webhooks/\d+/{re.escape(ix.token)}/messages/@original")
    return [r.json or {} for r in fake.requests if r.method == "PATCH" and path.fullmatch(r.path)]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


async def job_of(fake: FakeDiscord, ix: InteractionState) -> int:
    """The id of the job this interaction started, read from its first status edit's cancel button."""
    first = await fake.wait_for(lambda: edits(fake, ix))
    ids = custom_ids(first[0])
    assert len(ids) == 1 and ids[0].startswith("studio:cancel:"), first[0]
    return int(ids[0].rsplit(":", 1)[1])


def reply(fake: FakeDiscord, ix: InteractionState) -> dict[str, Any]:
    """The private answer an interaction ended with: a followup, or its original response."""
    return fake.messages[ix.followups[-1]] if ix.followups else fake.original(ix)
