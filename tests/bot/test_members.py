"""The bot's answers about members (`bot.members.DiscordMembers`), against the fake Discord's REST API.

The server is put in the bot's cache as a gateway GUILD_CREATE would; the member is fetched over REST, as in
production, and their view of each channel computed by discord.py from roles and overwrites.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from bot.members import DiscordMembers
from studio.members_api import GuildInfo, MembersUnavailable
from tests.bot.conftest import Studio
from tests.bot.fakediscord import MANAGE_GUILD, MANAGE_MESSAGES, FakeDiscord
from tests.bot.fakediscord.shapes import iso_time, json_response

GUILD, OWNER, PLAIN, MOD, STRANGER, BOSS, REFUSED = 810, 811, 812, 813, 814, 815, 816
MOD_ROLE, BOSS_ROLE = 820, 821
PUBLIC, SECRET, ADULT, CATEGORY, THREAD, HIDDEN_THREAD = 830, 831, 832, 833, 834, 835
VIEW, SEND = 1 << 10, 1 << 11


def _role(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
    }


def _channel(channel_id: int, kind: int, *, nsfw: bool = False, overwrites: list[dict[str, Any]] | None = None):
    return {
        "id": str(channel_id),
        "type": kind,
        "guild_id": str(GUILD),
        "name": f"c{channel_id}",
        "position": 0,
        "permission_overwrites": overwrites or [],
        "nsfw": nsfw,
        "parent_id": None,
    }


def _thread(thread_id: int, parent: int) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": 11,  # a public thread
        "guild_id": str(GUILD),
        "parent_id": str(parent),
        "owner_id": str(OWNER),
        "name": f"t{thread_id}",
        "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": iso_time()},
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
    }


GUILD_DATA: dict[str, Any] = {
    "id": str(GUILD),
    "name": "Alpha",
    "owner_id": str(OWNER),
    "roles": [
        _role(GUILD, "@everyone", VIEW | SEND, 0),
        _role(MOD_ROLE, "mods", MANAGE_MESSAGES, 1),
        _role(BOSS_ROLE, "bosses", MANAGE_GUILD, 2),
    ],
    "channels": [
        _channel(PUBLIC, 0),
        # Closed to @everyone, open to the moderators' role.
        _channel(
            SECRET,
            0,
            overwrites=[
                {"id": str(GUILD), "type": 0, "allow": "0", "deny": str(VIEW)},
                {"id": str(MOD_ROLE), "type": 0, "allow": str(VIEW), "deny": "0"},
            ],
        ),
        _channel(ADULT, 0, nsfw=True),
        _channel(CATEGORY, 4),
    ],
    "threads": [_thread(THREAD, PUBLIC), _thread(HIDDEN_THREAD, SECRET)],
    "member_count": 3,
    "features": [],
    "emojis": [],
    "stickers": [],
}

ROLES = {OWNER: [], PLAIN: [], MOD: [str(MOD_ROLE)], BOSS: [str(BOSS_ROLE)]}


def _serve_members(fake: FakeDiscord) -> None:
    """Teach the fake GET /guilds/{id}/members/{id}: the members above, 404 (Unknown Member) for anyone else."""
    original = fake._route

    async def route(method: str, parts: list[str], *args: Any) -> web.StreamResponse:
        match parts:
            case ["guilds", _guild, "members", user] if method == "GET" and int(user) == REFUSED:
                return json_response({"code": 50001, "message": "Missing Access"}, status=403)
            case ["guilds", guild, "members", user] if method == "GET":
                if int(guild) != GUILD or int(user) not in ROLES:
                    return json_response({"code": 10007, "message": "Unknown Member"}, status=404)
                data = {
                    "user": {"id": user, "username": f"u{user}", "discriminator": "0", "avatar": None},
                    "roles": ROLES[int(user)],
                    "joined_at": iso_time(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
                return json_response(data)
        return await original(method, parts, *args)

    fake._route = route  # type: ignore[method-assign]


async def test_the_bot_answers_for_members_from_roles_and_channel_permissions(studio: Studio) -> None:
    bot = await studio.open()
    _serve_members(studio.fake)
    bot._connection._add_guild_from_data(GUILD_DATA)  # type: ignore[arg-type]  # as GUILD_CREATE does
    directory = DiscordMembers(bot)
    assert GuildInfo(GUILD, "Alpha") in await directory.guilds()

    plain = await directory.member(GUILD, PLAIN)
    assert plain is not None
    assert plain.channel_ids == {PUBLIC, ADULT, THREAD}  # not the closed channel nor its thread; no category
    assert plain.adult and not plain.is_moderator and not plain.is_manager and plain.role_ids == ()
    caller = plain.caller("cli")
    assert (caller.user_id, caller.guild_id) == (PLAIN, GUILD)
    assert not caller.may_moderate and not caller.may_manage_server

    mod = await directory.member(GUILD, MOD)
    assert mod is not None
    assert mod.channel_ids == {PUBLIC, SECRET, ADULT, THREAD, HIDDEN_THREAD}
    assert mod.is_moderator and not mod.is_manager and mod.role_ids == (MOD_ROLE,)

    boss = await directory.member(GUILD, BOSS)  # Manage Server: a manager, and so a moderator
    assert boss is not None and boss.is_manager and boss.is_moderator and SECRET not in boss.channel_ids
    owner = await directory.member(GUILD, OWNER)  # the server's owner has every permission
    assert owner is not None and owner.is_manager and owner.is_moderator and SECRET in owner.channel_ids

    assert await directory.member(GUILD, STRANGER) is None  # not in the server
    assert await directory.member(GUILD + 1, PLAIN) is None  # a server the bot is not in
    with pytest.raises(MembersUnavailable):  # Discord refused the bot: nothing is decided about the member
        await directory.member(GUILD, REFUSED)
    asked = [r.path for r in studio.fake.requests if r.path.startswith(f"/guilds/{GUILD}/members/")]
    assert asked == [f"/guilds/{GUILD}/members/{user}" for user in (PLAIN, MOD, BOSS, OWNER, STRANGER, REFUSED)]


async def test_studio_run_offers_the_discord_sign_in_on_the_bots_answers(fake, tmp_path, monkeypatch) -> None:
    import httpx

    from bot import runner
    from bot.client import StudioBot
    from tests.bot.test_runner import _free_port, _settings

    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    settings = _settings(
        tmp_path,
        STUDIO_WEB_PORT=str(port),
        STUDIO_WEB_PUBLIC_URL=public,
        DISCORD_CLIENT_ID="880000000000000001",
        DISCORD_CLIENT_SECRET="a-client-secret",
    )
    seen: dict[str, object] = {}

    async def fake_connect(self: StudioBot, *, reconnect: bool = True) -> None:
        async with httpx.AsyncClient(base_url=public) as browser:
            answer = await browser.get("/auth/login")
        seen["status"], seen["to"] = answer.status_code, answer.headers.get("location", "")

    monkeypatch.setattr(StudioBot, "connect", fake_connect)
    await runner.run_bot(settings)
    assert seen["status"] == 303
    assert str(seen["to"]).startswith("https://discord.com/oauth2/authorize?")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in str(seen["to"]) and "a-client-secret" not in str(seen["to"])
