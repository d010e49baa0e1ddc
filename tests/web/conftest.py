"""Fixtures: the web app on the real services (fake engine host, temporary data folder), talked to in-process.

`studio` opens the services as `web.runner.run_web` does (the web's delivery port registered, then the queue
started) on `tests/fakes.FakeEngineHost`; `client` is an httpx client on the app's ASGI interface, with no
session; `owner` is one that signed in with the token, as a browser does, and sends the page's CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from studio.container import Services, open_services
from studio.settings import Settings, load_settings
from tests.fakes import FakeEngineHost
from web.auth import read_token
from web.runner import attach_web
from web.server import WebServer

BASE = "http://127.0.0.1:8765"
JOB_LIMIT_S = 30.0


@dataclass
class Studio:
    settings: Settings
    services: Services
    server: WebServer
    host: FakeEngineHost

    @property
    def app(self):  # the ASGI app the server would serve
        return self.server.app

    @property
    def token(self) -> str:
        return read_token(self.settings.data_dir)


@pytest.fixture
def step_s() -> float:
    """How long each fake engine step takes (a test that cancels a running job makes it longer)."""
    return 0.0


@pytest.fixture
async def studio(tmp_path: Path, step_s: float) -> AsyncIterator[Studio]:
    settings = load_settings(
        env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu", STUDIO_DEFAULT_MODEL="tiny-sd"
    )
    host = FakeEngineHost(step_s=step_s)
    async with open_services(settings, host=host, owner="studio web") as services:
        server = attach_web(services, settings, "127.0.0.1", 0)
        await services.jobs.start()
        yield Studio(settings, services, server, host)
        server.events.shutdown.set()


def client_for(studio: Studio, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=studio.app)
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)


@pytest.fixture
async def client(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(studio) as anonymous:
        yield anonymous


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    """Trade the token for the session cookie (kept by the client); returns the page's CSRF token."""
    answer = await client.get("/", params={"token": token})
    assert answer.status_code == 303, answer.text
    page = await client.get("/")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


@pytest.fixture
async def owner(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(studio) as browser:
        csrf = await sign_in(browser, studio.token)
        browser.headers["X-CSRF-Token"] = csrf
        yield browser
