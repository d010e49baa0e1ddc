"""Who may ask: the token sign-in, the session cookie, Bearer tokens, and the guard against other sites and ports.

Every route of the app but the static files refuses a request that names nobody; `/` is the sign-in exchange.
"""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from tests.web.conftest import BASE, JOB_LIMIT_S, Studio, client_for, sign_in
from web.app import create_app
from web.auth import LOCAL_OWNER, OWNER_ID, LocalAuth, cookie_name, read_token

GENERATE = "/api/generate/text-to-image"
COOKIE = cookie_name(8765)  # BASE's port


def _walk(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route below `routes`, path parameters filled with 1; the static mount left out."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router as one entry
        if included is not None:
            found += _walk(included.routes)
        elif isinstance(route, Mount):
            assert route.path == "/static", route.path  # the one mount: our own files, served to anyone
        elif isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            found += [(method, path) for method in sorted(route.methods or ())]
        else:
            raise AssertionError(f"a route of a kind this walk does not know: {route!r}")
    return found


def _routes(studio: Studio) -> list[tuple[str, str]]:
    return _walk(studio.app.router.routes)


async def test_every_route_refuses_a_request_that_names_nobody(client: httpx.AsyncClient, studio: Studio) -> None:
    routes = _routes(studio)
    assert ("POST", GENERATE) in routes and ("GET", "/media/images/1/thumb") in routes and len(routes) >= 15
    for method, path in routes:
        answer = await client.request(method, path, json={})
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text[:200])
        assert "set-cookie" not in answer.headers
    static = await client.get("/static/studio.js")  # the one thing served to anyone: our own script
    assert static.status_code == 200


async def test_the_token_trades_for_a_session_cookie_and_leaves_the_address(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    answer = await client.get("/", params={"token": studio.token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    assert studio.token not in answer.headers["location"]
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert studio.token not in cookie  # signed session data, not the token
    page = await client.get("/")
    assert page.status_code == 200
    assert 'id="create"' in page.text


async def test_a_wrong_token_is_401_and_no_cookie(client: httpx.AsyncClient) -> None:
    answer = await client.get("/", params={"token": "not-the-token"})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "not this studio" in answer.text
    assert (await client.get("/api/models")).status_code == 401


async def test_a_forged_cookie_is_nobody(client: httpx.AsyncClient) -> None:
    client.cookies.set(COOKIE, "eyJ1IjowLCJjIjoieCJ9.forged.signature")
    assert (await client.get("/api/models")).status_code == 401


async def test_scripts_send_the_token_as_bearer_without_csrf(studio: Studio) -> None:
    async with client_for(studio, Authorization=f"Bearer {studio.token}") as script:
        assert (await script.get("/api/models")).status_code == 200
        answer = await script.post(GENERATE, json={"prompt": "a cat", "num_outputs": 1})
        assert answer.status_code == 202, answer.text
    async with client_for(studio, Authorization="Bearer wrong") as wrong:
        assert (await wrong.get("/api/models")).status_code == 401


async def test_a_cookie_post_needs_the_csrf_header(studio: Studio) -> None:
    async with client_for(studio) as browser:
        csrf = await sign_in(browser, studio.token)
        missing = await browser.post(GENERATE, json={"prompt": "x", "num_outputs": 1})
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.text
        wrong = await browser.post(GENERATE, json={"prompt": "x", "num_outputs": 1}, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        right = await browser.post(GENERATE, json={"prompt": "x", "num_outputs": 1}, headers={"X-CSRF-Token": csrf})
        assert right.status_code == 202, right.text
    assert len(await studio.services.db.jobs.list_for_user(OWNER_ID)) == 1  # only the one with the right header


@pytest.mark.parametrize(
    ("origin", "site"),
    [
        ("http://evil.example", "cross-site"),  # another site
        ("http://127.0.0.1:9999", "same-site"),  # another port of this machine: Chromium says same-site
        ("http://localhost:8765", "cross-site"),  # the same port under another name
        ("null", None),  # a sandboxed frame or a file:// page
        (None, "same-site"),  # Fetch Metadata alone
    ],
)
async def test_a_post_from_another_site_or_port_is_refused(
    owner: httpx.AsyncClient, studio: Studio, origin: str | None, site: str | None
) -> None:
    headers = {name: value for name, value in (("Origin", origin), ("Sec-Fetch-Site", site)) if value is not None}
    answer = await owner.post(GENERATE, json={"prompt": "x", "num_outputs": 1}, headers=headers)
    assert answer.status_code == 403
    assert "another site or port" in answer.text
    assert await studio.services.db.jobs.list_active() == []  # nothing was queued


async def test_a_post_from_our_own_page_passes(owner: httpx.AsyncClient) -> None:
    headers = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    answer = await owner.post(GENERATE, json={"prompt": "x", "num_outputs": 1}, headers=headers)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "192.168.1.5:8765", ""])
async def test_an_unknown_host_header_is_refused(studio: Studio, host: str) -> None:
    async with client_for(studio, Authorization=f"Bearer {studio.token}") as script:
        answer = await script.get("/api/models", headers={"Host": host})
        assert answer.status_code == 400
        assert "Host" in answer.text


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "localhost"])
async def test_the_loopback_names_are_allowed(studio: Studio, host: str) -> None:
    async with client_for(studio, Authorization=f"Bearer {studio.token}") as script:
        assert (await script.get("/api/models", headers={"Host": host})).status_code == 200


async def test_no_cors_headers_and_every_security_header(owner: httpx.AsyncClient) -> None:
    preflight = await owner.options(
        GENERATE, headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    answers = [
        preflight,
        await owner.get("/api/models", headers={"Origin": "http://evil.example"}),
        await owner.get("/"),
    ]
    for answer in answers:
        assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cross-origin-resource-policy"] == "same-origin"


async def test_rotating_the_token_ends_the_old_one(tmp_path) -> None:
    first = read_token(tmp_path)
    assert read_token(tmp_path) == first
    assert (tmp_path / "web-token").stat().st_mode & 0o777 == 0o600
    second = read_token(tmp_path, rotate=True)
    assert second != first and read_token(tmp_path) == second
    assert (tmp_path / "web-secret").stat().st_mode & 0o777 == 0o600


class MembersAuth(LocalAuth):
    """Local auth that also knows member 42 of server 7: the shape a Discord sign-in will give (not built yet)."""

    def caller(self, user_id: int) -> Caller:
        return MEMBER if user_id == MEMBER.user_id else super().caller(user_id)


MEMBER = Caller(user_id=42, guild_id=7, channel_id=3)


async def test_a_member_reaches_only_their_own_jobs_and_images(studio: Studio) -> None:
    members = MembersAuth(studio.settings.data_dir)
    app = create_app(studio.services, members, studio.server.events, studio.settings)
    owners = await studio.services.generate.submit(LOCAL_OWNER, GenerateInput(prompt="the owner's", count=1))
    theirs = await studio.services.generate.submit(MEMBER, GenerateInput(prompt="the member's", count=1))
    for ticket in (owners, theirs):
        assert (await studio.services.jobs.wait(ticket.job_id, JOB_LIMIT_S)).status == "done"
    (image,) = (await studio.services.gallery.job_result(Viewer(LOCAL_OWNER), owners.job_id)).images
    session, cookie = members.new_session(MEMBER.user_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-CSRF-Token": session.csrf}
    ) as member:
        member.cookies.set(COOKIE, cookie)
        own = await member.get(f"/api/generate/{theirs.job_id}")
        assert own.status_code == 200 and own.json()["summary"].startswith("the member's")
        assert (await member.get(own.json()["images"][0]["url"])).status_code == 200
        job = owners.job_id
        refused = [
            await member.get(f"/api/generate/{job}"),
            await member.get(f"/api/jobs/{job}/events"),
            await member.post(f"/api/jobs/{job}/cancel"),
            await member.post(f"/api/jobs/{job}/reroll"),
            await member.post(f"/api/jobs/{job}/remix", json={"prompt": "mine now"}),
            await member.post(f"/api/jobs/{job}/vary", json={"index": 0}),
            await member.post(f"/api/jobs/{job}/upscale", json={"index": 0}),
            await member.get(f"/media/images/{image.image_id}"),
            await member.get(f"/media/images/{image.image_id}/thumb"),
            await member.head(f"/media/images/{image.image_id}"),
        ]
        assert [answer.status_code for answer in refused] == [404] * len(refused)
        queue = (await member.get("/api/queue")).json()
    assert "the owner's" not in str(queue)
    assert len(await studio.services.db.jobs.list_for_user(MEMBER.user_id)) == 1  # nothing was queued for them


async def test_a_members_api_token_acts_as_that_member(studio: Studio) -> None:
    made = await studio.services.tokens.create(MEMBER, "my script")
    async with client_for(studio, Authorization=f"Bearer {made.secret}") as script:
        assert (await script.get("/api/models")).status_code == 200
        answer = await script.post(GENERATE, json={"prompt": "from my script", "num_outputs": 1})
        assert answer.status_code == 202, answer.text
        job = await studio.services.db.jobs.get(answer.json()["job_id"])
        assert job is not None and (job.requester_id, job.guild_id) == (MEMBER.user_id, MEMBER.guild_id)
        await studio.services.tokens.revoke(MEMBER, made.info.id)
        assert (await script.get("/api/models")).status_code == 401
