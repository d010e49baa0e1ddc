"""Real services, real engine on tiny models (tiny-sd, tiny-blip, tiny-clipseg chosen through settings),
and the fake Discord extended with attachments, a CDN and message context menus. Every test here is `slow`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
from PIL import Image

from bot.client import StudioBot
from bot.runner import DISCORD_ORIGINS
from engine.host import EngineHost
from studio.container import Services, engine_config, open_services
from studio.contract import Caller
from studio.settings import Settings, load_settings
from tests.bot.fakediscord import BASIC_PERMISSIONS, USER_ID, FakeDiscord, InteractionState, snowflake

TINY_ENV = {
    "STUDIO_DEVICE": "cpu",
    "STUDIO_DEFAULT_MODEL": "tiny-sd",
    "STUDIO_CAPTIONER": "tiny-blip",
    "STUDIO_SEGMENTER": "tiny-clipseg",
}
# At the command line: the machine's owner, with every capability.
ALICE = Caller(
    user_id=USER_ID,
    guild_id=None,
    channel_id=7,
    may_moderate=True,
    may_manage_server=True,
    bypasses_server_policy=True,
    origin="cli",
)


def png_bytes(
    size: tuple[int, int] = (96, 64), colour: tuple[int, int, int] = (200, 40, 40), fmt: str = "PNG"
) -> bytes:
    image = Image.new("RGB", size, colour)
    # A little structure so captions and masks are not all alike.
    for x in range(size[0] // 2):
        for y in range(size[1] // 3):
            image.putpixel((x, y), (20, 90, 220))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def mask_bytes(size: tuple[int, int] = (96, 64)) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in TINY_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    return load_settings(env_file=None)


def with_engine(settings: Settings, **changes: Any) -> Settings:
    """`settings` with some engine settings changed (STUDIO_REWRITER=..., say)."""
    return settings.model_copy(update={"engine": settings.engine.model_copy(update=changes)})


def host_for(settings: Settings, manager: Any) -> EngineHost:
    """The real engine on the settings' vision models, with the session's tiny pipeline manager."""
    return EngineHost(engine_config(settings), manager_factory=lambda: manager)


@pytest.fixture
async def services(settings: Settings, tiny_manager) -> AsyncIterator[Services]:
    async with open_services(settings, host=host_for(settings, tiny_manager)) as opened:
        yield opened


# ---------------------------------------------------------------- fake Discord with attachments


class FakeDiscordWithFiles(FakeDiscord):
    """FakeDiscord plus message commands and messages from users (attachments and the CDN are in FakeDiscord)."""

    def slash_with_files(
        self,
        name: str,
        /,
        *,
        bot: discord.Client | None = None,
        user_id: int = USER_ID,
        **values: Any,
    ) -> InteractionState:
        """A slash command whose attachment options are given as attachment dicts (see `attachment`)."""
        target = bot or self.bot
        assert target is not None
        data = self._options(target, name, values, None, validate=False)
        state = self._base(2, data, user_id=user_id, permissions=BASIC_PERMISSIONS, roles=(), message=None)
        return self._dispatch(state, bot)

    def message_command(
        self, name: str, message: dict[str, Any], *, bot: discord.Client | None = None, user_id: int = USER_ID
    ) -> InteractionState:
        """A message context-menu command on `message`."""
        target = bot or self.bot
        assert target is not None
        assert target.tree.get_command(name, type=discord.AppCommandType.message) is not None  # type: ignore[attr-defined]
        data = {
            "id": str(snowflake()),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: self.public(message)}},
        }
        state = self._base(2, data, user_id=user_id, permissions=BASIC_PERMISSIONS, roles=(), message=None)
        return self._dispatch(state, bot)

    def user_message(self, attachments: list[dict[str, Any]]) -> dict[str, Any]:
        """A message a user posted (not the bot), with these attachments."""
        message = self._new_message(
            720000000000000001,
            {"content": "look"},
            [],
            author={"id": str(USER_ID), "username": "someone", "discriminator": "0", "avatar": None},
        )
        message["attachments"] = attachments
        return message


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscordWithFiles]:
    server = FakeDiscordWithFiles()
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.base_url)
    yield server
    await server.stop()
    assert server.problems == [], server.problems


MakeBot = Callable[..., Awaitable[StudioBot]]


@pytest.fixture
async def make_bot(fake: FakeDiscordWithFiles, services: Services, settings: Settings) -> AsyncIterator[MakeBot]:
    """A StudioBot on the real services; `make_bot()` again gives a second instance on the same database."""
    bots: list[StudioBot] = []

    async def start() -> StudioBot:
        bot = StudioBot(settings, services)
        services.jobs.delivery.unregister(*DISCORD_ORIGINS)  # a second bot takes over from the first
        services.jobs.delivery.register(bot.delivery, *DISCORD_ORIGINS)
        await bot.login("fake-token")
        fake.attach(bot)
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.close()
    assert fake.hanging() == [], "an interaction was left 'thinking…'"


@pytest.fixture
async def bot(make_bot: MakeBot, services: Services) -> StudioBot:
    started = await make_bot()
    await services.jobs.start()
    return started
