"""Sign in with Discord, against a fake provider on 127.0.0.1 and a fake of the bot's member directory.

What a member may do and see comes from the directory (the bot), never from the provider's answer: the fake
provider even says the user has Manage Server everywhere, and the tests show it counts for nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from studio.container import Services, open_services
from studio.members_api import GuildInfo, MemberView
from studio.settings import Settings, load_settings
from tests.fakes import FakeEngineHost
from tests.studio.gallery_seed import make_job
from tests.web.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeMembers, FakeProvider, FakeUser
from web.auth import cookie_name, session_secret
from web.discord_login import DiscordLogin
from web.members import CACHE_S, CachedMembers
from web.runner import attach_web
from web.server import WebServer

PUBLIC_URL = "https://studio.example"
SHARED, ALSO_SHARED, USER_ONLY, BOT_ONLY = 501, 502, 503, 504
ALICE, BOB = 601, 602
VISIBLE, HIDDEN = 701, 702
SESSION = cookie_name(None)  # the public URL's default port


def member_view(guild: int, user: int, *, channels: tuple[int, ...] = (), **rights: bool) -> MemberView:
    return MemberView(
        guild_id=guild,
        user_id=user,
        role_ids=(9,),
        manage_server=rights.get("manage_server", False),
        manage_messages=rights.get("manage_messages", False),
        channel_ids=frozenset(channels),
        adult=False,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    settings: Settings
    services: Services
    server: WebServer
    provider: FakeProvider
    members: FakeMembers
    clock: Clock

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.server.app), base_url=PUBLIC_URL)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider(FakeUser(ALICE, "alice", [SHARED, ALSO_SHARED, USER_ONLY]))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def world(tmp_path, provider: FakeProvider) -> AsyncIterator[World]:
    settings = load_settings(
        env_file=None,
        STUDIO_DATA_DIR=tmp_path / "data",
        STUDIO_DEVICE="cpu",
        STUDIO_DEFAULT_MODEL="tiny-sd",
        STUDIO_WEB_PUBLIC_URL=PUBLIC_URL,
        DISCORD_CLIENT_ID=CLIENT_ID,
        DISCORD_CLIENT_SECRET=CLIENT_SECRET,
        STUDIO_DISCORD_OAUTH_BASE=provider.base_url,
    )
    members = FakeMembers([GuildInfo(SHARED, "Alpha"), GuildInfo(ALSO_SHARED, "Beta"), GuildInfo(BOT_ONLY, "Gamma")])
    members.put(member_view(SHARED, ALICE, channels=(VISIBLE,)))
    members.put(member_view(ALSO_SHARED, ALICE))
    async with open_services(settings, host=FakeEngineHost(), owner="studio run") as services:
        server = attach_web(services, settings, "127.0.0.1", 0, members=members)
        clock = Clock()
        login: DiscordLogin = server.app.state.discord
        login.members = CachedMembers(members, clock=clock)
        await services.jobs.start()
        yield World(settings, services, server, provider, members, clock)
        server.events.shutdown.set()


async def through_discord(browser: httpx.AsyncClient) -> httpx.Response:
    """Start the sign-in and let the (fake) provider send the browser back; the callback's answer."""
    start = await browser.get("/auth/login")
    assert start.status_code == 303, start.text
    async with httpx.AsyncClient() as net:  # the provider is a real server on 127.0.0.1
        back = await net.get(start.headers["location"])
    assert back.status_code == 302
    return await browser.get(back.headers["location"])


async def sign_in(browser: httpx.AsyncClient, guild: int = SHARED) -> str:
    """The whole sign-in, picking `guild`; returns the page's CSRF token (and sends it from then on)."""
    picker = await through_discord(browser)
    assert picker.status_code == 303 and picker.headers["location"] == "/auth/guild", picker.text
    page = await browser.get("/auth/guild")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce is not None, page.text
    chosen = await browser.post("/auth/guild", data={"guild_id": str(guild), "nonce": nonce.group(1)})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/", chosen.text
    home = await browser.get("/")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text)
    assert home.status_code == 200 and csrf is not None and csrf.group(1), home.text[:300]
    browser.headers["X-CSRF-Token"] = csrf.group(1)
    return csrf.group(1)


async def test_the_whole_sign_in_with_state_picker_and_a_session_of_three_fields(world: World) -> None:
    async with world.browser() as browser:
        start = await browser.get("/auth/login")
        assert start.status_code == 303
        target = urlsplit(start.headers["location"])
        query = parse_qs(target.query)
        assert f"{target.scheme}://{target.netloc}" == world.provider.base_url and target.path == "/oauth2/authorize"
        assert query["scope"] == ["identify guilds"] and query["client_id"] == [CLIENT_ID]
        assert query["redirect_uri"] == [f"{PUBLIC_URL}/auth/callback"]
        assert len(query["state"][0]) >= 20
        signin_cookie = start.headers["set-cookie"].lower()
        assert "secure" in signin_cookie and "httponly" in signin_cookie and "samesite=lax" in signin_cookie

        await sign_in(browser)
        session = browser.cookies.get(SESSION)
        assert session is not None
        data = URLSafeTimedSerializer(session_secret(world.settings.data_dir), salt="studio-member-session").loads(
            session
        )
        assert set(data) == {"u", "g", "c"} and (data["u"], data["g"]) == (ALICE, SHARED)
        models = await browser.get("/api/models")
        assert models.status_code == 200
    # One code exchange, one read of each: the token is not used again after the sign-in.
    assert [world.provider.count(p) for p in ("/api/oauth2/token", "/api/v10/users/@me")] == [1, 1]
    assert world.provider.count("/api/v10/users/@me/guilds") == 1


async def test_the_picker_offers_only_servers_shared_with_the_bot(world: World) -> None:
    async with world.browser() as browser:
        await through_discord(browser)
        page = await browser.get("/auth/guild")
        assert "Alpha" in page.text and "Beta" in page.text
        assert "Gamma" not in page.text and str(USER_ONLY) not in page.text
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce is not None
        # A server the user did not share with the bot (a hand-made form) is refused, and so is a wrong nonce.
        other = await browser.post("/auth/guild", data={"guild_id": str(BOT_ONLY), "nonce": nonce.group(1)})
        assert other.status_code == 400 and SESSION not in browser.cookies
        forged = await browser.post("/auth/guild", data={"guild_id": str(SHARED), "nonce": "guess"})
        assert forged.status_code == 400 and SESSION not in browser.cookies


async def test_one_shared_server_signs_in_without_the_picker(world: World) -> None:
    world.provider.user.guild_ids = [SHARED, USER_ONLY]
    async with world.browser() as browser:
        done = await through_discord(browser)
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert (await browser.get("/api/models")).status_code == 200


async def test_a_wrong_or_missing_state_is_refused_before_any_exchange(world: World) -> None:
    async with world.browser() as browser:
        start = await browser.get("/auth/login")
        async with httpx.AsyncClient() as net:
            back = await net.get(start.headers["location"])
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        wrong = await browser.get("/auth/callback", params={"code": code, "state": "not-the-state"})
        assert wrong.status_code == 400 and "not the one this browser started" in wrong.text
        assert SESSION not in browser.cookies
    async with world.browser() as elsewhere:  # the right link, opened in a browser that did not start it
        stolen = await elsewhere.get(back.headers["location"])
        assert stolen.status_code == 400 and SESSION not in elsewhere.cookies
    assert world.provider.count("/api/oauth2/token") == 0


async def test_a_denied_sign_in_and_a_provider_that_fails_say_what_to_do(world: World) -> None:
    world.provider.deny = True
    async with world.browser() as browser:
        denied = await through_discord(browser)
        assert denied.status_code == 400 and "You did not allow the sign-in on Discord" in denied.text
    world.provider.deny, world.provider.down = False, True
    async with world.browser() as browser:
        failed = await through_discord(browser)
        assert failed.status_code == 502 and "Discord did not answer: try signing in again" in failed.text
        assert SESSION not in browser.cookies
    await world.provider.stop()  # the provider is gone altogether
    async with world.browser() as browser:
        start = await browser.get("/auth/login")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        gone = await browser.get("/auth/callback", params={"code": "x", "state": state})
        assert gone.status_code == 502 and "Discord did not answer" in gone.text


async def test_no_server_shared_with_the_bot_is_one_line(world: World) -> None:
    world.provider.user.guild_ids = [USER_ONLY]
    async with world.browser() as browser:
        answer = await through_discord(browser)
        assert answer.status_code == 403 and "None of your Discord servers has this studio" in answer.text


async def test_a_member_sees_only_images_posted_where_the_bot_says_they_may_look(world: World) -> None:
    db, folder = world.services.db, world.settings.images_dir
    seen = (await make_job(db, BOB, SHARED, ["a visible cat"], folder=folder, posted_in=VISIBLE))[0]
    hidden = (await make_job(db, BOB, SHARED, ["a hidden cat"], folder=folder, posted_in=HIDDEN))[0]
    unposted = (await make_job(db, BOB, SHARED, ["bob's own cat"], folder=folder))[0]
    own = (await make_job(db, ALICE, SHARED, ["alice's cat"], folder=folder))[0]
    async with world.browser() as browser:
        await sign_in(browser)
        assert (await browser.get(f"/media/images/{seen.id}")).status_code == 200
        assert (await browser.get(f"/media/images/{own.id}")).status_code == 200
        assert (await browser.get(f"/media/images/{hidden.id}")).status_code == 404
        assert (await browser.get(f"/media/images/{unposted.id}")).status_code == 404
        # The channel is closed to her: within the minute the bot's answer stands, after it the image is gone.
        world.members.put(member_view(SHARED, ALICE, channels=()))
        world.clock.now += CACHE_S - 1
        assert (await browser.get(f"/media/images/{seen.id}")).status_code == 200
        world.clock.now += 2
        assert (await browser.get(f"/media/images/{seen.id}")).status_code == 404
        assert (await browser.get(f"/media/images/{own.id}")).status_code == 200


async def test_moderating_follows_the_bot_and_a_removed_right_ends_after_the_cache(world: World) -> None:
    db = world.services.db
    first = await db.jobs.create("generate", {"prompt": "bob's first"}, BOB, guild_id=SHARED)
    second = await db.jobs.create("generate", {"prompt": "bob's second"}, BOB, guild_id=SHARED)
    async with world.browser() as browser:
        await sign_in(browser)
        # Discord's guild list said Manage Server; the bot says she is a plain member: refused.
        refused = await browser.post(f"/api/jobs/{first.id}/cancel")
        assert refused.status_code in (404, 409), refused.text
        world.members.put(member_view(SHARED, ALICE, manage_messages=True))
        world.clock.now += CACHE_S + 1
        allowed = await browser.post(f"/api/jobs/{first.id}/cancel")
        assert allowed.status_code == 200, allowed.text
        lookups = world.members.lookups
        world.members.put(member_view(SHARED, ALICE))  # the moderator role is taken away
        world.clock.now += CACHE_S + 1
        again = await browser.post(f"/api/jobs/{second.id}/cancel")
        assert again.status_code in (404, 409), again.text
        assert world.members.lookups == lookups + 1  # asked the bot once more, after the minute
    assert (await db.jobs.get(first.id)).status == "cancelled"  # type: ignore[union-attr]
    assert (await db.jobs.get(second.id)).status == "queued"  # type: ignore[union-attr]


async def test_the_bots_roles_decide_the_servers_role_list(world: World) -> None:
    await world.services.db.guild_settings.update(SHARED, allowed_role_ids=(77,))
    job = {"prompt": "a lighthouse", "num_outputs": 1}
    async with world.browser() as browser:
        await sign_in(browser)
        refused = await browser.post("/api/generate/text-to-image", json=job)
        assert refused.status_code == 409 and "roles" in refused.text
        world.members.put(MemberView(SHARED, ALICE, (77,), False, False, frozenset({VISIBLE}), False))
        world.clock.now += CACHE_S + 1
        accepted = await browser.post("/api/generate/text-to-image", json=job)
        assert accepted.status_code == 202, accepted.text


async def test_a_member_who_left_the_server_is_signed_out(world: World) -> None:
    async with world.browser() as browser:
        await sign_in(browser)
        world.members.remove(SHARED, ALICE)
        world.clock.now += CACHE_S + 1
        assert (await browser.get("/api/models")).status_code == 401


async def test_when_discord_does_not_answer_the_bot_nothing_is_decided_nor_kept(world: World) -> None:
    async with world.browser() as browser:
        await sign_in(browser)
        world.clock.now += CACHE_S + 1
        world.members.down = True
        failed = await browser.get("/api/models")
        assert failed.status_code == 503 and "try again in a minute" in failed.text
        world.members.down = False  # the failure was not cached: the next request asks again
        assert (await browser.get("/api/models")).status_code == 200


async def test_a_members_api_token_carries_what_the_bot_says_now(world: World) -> None:
    db, folder = world.services.db, world.settings.images_dir
    posted = (await make_job(db, BOB, SHARED, ["a visible cat"], folder=folder, posted_in=VISIBLE))[0]
    made = await world.services.tokens.create(member_view(SHARED, ALICE).caller("cli"), "script")
    async with world.browser() as script:
        script.headers["Authorization"] = f"Bearer {made.secret}"
        assert (await script.get(f"/media/images/{posted.id}")).status_code == 200  # her channels, from the bot
        world.members.remove(SHARED, ALICE)
        world.clock.now += CACHE_S + 1
        assert (await script.get("/api/models")).status_code == 401  # she left the server: the token is nobody


async def test_every_route_but_the_sign_in_names_somebody(world: World) -> None:
    from tests.web.test_access import _walk

    routes = _walk(world.server.app.router.routes)
    auth_routes = {(m, p) for m, p in routes if p.startswith("/auth/")}
    assert auth_routes == {("GET", "/auth/login"), ("GET", "/auth/callback"), ("GET", "/auth/guild")} | {
        ("POST", "/auth/guild"),
        ("POST", "/auth/logout"),
    }
    async with world.browser() as anonymous:
        for method, path in set(routes) - auth_routes:
            answer = await anonymous.request(method, path, json={})
            assert answer.status_code == 401, (method, path, answer.status_code)


async def test_the_client_secret_is_never_logged_nor_shown(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    async with world.browser() as browser:
        start = await browser.get("/auth/login")
        bodies += [start.headers["location"], start.text]
        await sign_in(browser)
        for path in ("/", "/docs", "/openapi.json", "/auth/guild"):
            answer = await browser.get(path)
            bodies += [answer.text, str(answer.headers)]
    world.provider.down = True
    async with world.browser() as browser:
        bodies.append((await through_discord(browser)).text)
    assert bodies and all(CLIENT_SECRET not in body for body in bodies)
    assert CLIENT_SECRET not in caplog.text
    assert CLIENT_SECRET not in repr(world.settings) and CLIENT_SECRET in world.settings.secrets


async def test_signing_out_drops_the_session(world: World) -> None:
    async with world.browser() as browser:
        await sign_in(browser)
        assert 'action="/auth/logout"' in (await browser.get("/")).text
        out = await browser.post("/auth/logout")
        assert out.status_code == 303 and SESSION not in browser.cookies
        assert (await browser.get("/api/models")).status_code == 401


async def test_the_token_keeps_working_beside_the_sign_in(world: World) -> None:
    from web.auth import read_token

    async with world.browser() as browser:
        answer = await browser.get("/", params={"token": read_token(world.settings.data_dir)})
        assert answer.status_code == 303
        page = await browser.get("/")
        assert page.status_code == 200 and 'id="create"' in page.text


async def test_the_start_page_offers_the_discord_sign_in(world: World) -> None:
    async with world.browser() as browser:
        page = await browser.get("/")
        assert page.status_code == 401 and 'href="/auth/login"' in page.text
