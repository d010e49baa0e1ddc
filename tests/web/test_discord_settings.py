"""Sign in with Discord's settings: one line for each bad combination, what it allows, and where it stays off."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from studio.errors import StudioError
from studio.logging_setup import RedactSecrets
from studio.settings import SettingsError, load_settings
from tests.web.conftest import BASE, Studio
from tests.web.fake_oauth import CLIENT_ID, CLIENT_SECRET
from web.runner import refuse_discord_login_without_bot

PUBLIC = "https://studio.example.org"
ON = {"STUDIO_WEB_PUBLIC_URL": PUBLIC, "DISCORD_CLIENT_ID": CLIENT_ID, "DISCORD_CLIENT_SECRET": CLIENT_SECRET}


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"DISCORD_CLIENT_ID": CLIENT_ID, "STUDIO_WEB_PUBLIC_URL": PUBLIC}, "DISCORD_CLIENT_SECRET: "),
        ({"DISCORD_CLIENT_SECRET": CLIENT_SECRET, "STUDIO_WEB_PUBLIC_URL": PUBLIC}, "DISCORD_CLIENT_ID: "),
        ({"DISCORD_CLIENT_ID": CLIENT_ID, "DISCORD_CLIENT_SECRET": CLIENT_SECRET}, "STUDIO_WEB_PUBLIC_URL: "),
        ({**ON, "DISCORD_CLIENT_ID": "my-app"}, "copy the Application ID"),
        ({**ON, "STUDIO_WEB_PUBLIC_URL": "http://studio.example.org"}, "must use https"),
        ({**ON, "STUDIO_WEB_PUBLIC_URL": "studio.example.org"}, "is not an address"),
        ({**ON, "STUDIO_DISCORD_OAUTH_BASE": "http://discord.example"}, "STUDIO_DISCORD_OAUTH_BASE: "),
        ({"STUDIO_WEB_HOST": "0.0.0.0"}, "turn on Sign in with Discord"),
    ],
)
def test_a_bad_combination_is_one_line_naming_the_variable(values: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file=None, **values)
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert CLIENT_SECRET not in message


def test_on_it_allows_a_public_host_and_https_only_cookies(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, STUDIO_WEB_HOST="0.0.0.0", **{**ON, "STUDIO_WEB_PUBLIC_URL": PUBLIC + "/"})
    web = settings.web
    assert web.discord_login and web.https and web.public_url == PUBLIC  # the trailing slash is dropped
    assert web.discord_oauth_base == "https://discord.com"
    assert CLIENT_SECRET not in repr(settings) and CLIENT_SECRET not in str(settings.model_dump())
    local = load_settings(env_file=None, STUDIO_WEB_PUBLIC_URL="http://127.0.0.1:8765")
    assert not local.web.discord_login and not local.web.https


def test_the_log_filter_masks_the_client_secret() -> None:
    settings = load_settings(env_file=None, **ON)
    record = logging.LogRecord("web", logging.INFO, __file__, 1, "posting %s", (CLIENT_SECRET,), None)
    RedactSecrets(settings.secrets).filter(record)
    assert CLIENT_SECRET not in record.getMessage() and "[redacted]" in record.getMessage()


def test_studio_web_without_the_bot_refuses_a_host_only_the_sign_in_allowed(tmp_path: Path) -> None:
    public = load_settings(env_file=None, STUDIO_WEB_HOST="0.0.0.0", **ON)
    with pytest.raises(StudioError) as caught:
        refuse_discord_login_without_bot(public, "0.0.0.0")
    assert "needs it (run `studio run`)" in caught.value.user_message
    refuse_discord_login_without_bot(public, "127.0.0.1")  # the token on loopback is fine


async def test_without_the_bot_the_web_has_no_discord_sign_in(studio: Studio) -> None:
    # The shared fixture builds the web as `studio web` does: no member directory, so no /auth routes at all.
    assert studio.app.state.discord is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=studio.app), base_url=BASE) as browser:
        assert (await browser.get("/auth/login")).status_code == 404
        page = await browser.get("/")
        assert page.status_code == 401 and "/auth/login" not in page.text
