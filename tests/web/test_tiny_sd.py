"""One generation through the API on the real engine (tiny-sd on the CPU): the images the page shows are the
engine's PNGs, served by id. Marked `slow` by its fixture (tests/conftest.py)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from engine.host import EngineHost
from studio.container import open_services
from studio.settings import load_settings
from tests.web.conftest import BASE, JOB_LIMIT_S, sign_in
from web.auth import read_token
from web.runner import attach_web


@pytest.fixture
async def tiny_owner(tmp_path: Path, tiny_manager) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    settings = load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu")
    host = EngineHost(manager_factory=lambda: tiny_manager)
    async with open_services(settings, host=host, owner="studio web") as services:
        server = attach_web(services, settings, "127.0.0.1", 0)
        await services.jobs.start()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app), base_url=BASE) as browser:
            browser.headers["X-CSRF-Token"] = await sign_in(browser, read_token(settings.data_dir))
            yield browser, services


async def test_tiny_sd_images_through_the_api(tiny_owner) -> None:
    owner, services = tiny_owner
    body = {"prompt": "a red cube", "num_outputs": 2, "model": "tiny-sd", "steps": 2, "seed": 1}
    ticket = (await owner.post("/api/generate/text-to-image", json=body)).json()
    assert (await services.jobs.wait(ticket["job_id"], JOB_LIMIT_S * 4)).status == "done"
    job = (await owner.get(ticket["status_url"])).json()
    assert [image["seed"] for image in job["images"]] == [1, 2]
    png = await owner.get(job["images"][0]["url"])
    with Image.open(io.BytesIO(png.content)) as img:
        assert img.format == "PNG"
        assert "a red cube" in img.info.get("parameters", "")  # the engine's metadata, served as written
        first = img.tobytes()
    with Image.open(io.BytesIO((await owner.get(job["images"][1]["url"])).content)) as img:
        assert img.tobytes() != first  # two seeds, two images
