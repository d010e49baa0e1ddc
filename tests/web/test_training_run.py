"""A LoRA trained through the web on the real tiny engine: plan, start, follow, choose, download (marked `slow`);
and in Chromium (marked `browser` too), the run page watched to its end and the test-LoRA page's three scales."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from engine.host import EngineConfig, EngineHost
from studio.container import open_services
from studio.settings import load_settings
from tests.engine.training_support import planted_images
from tests.studio.conftest import settle
from tests.web.conftest import Studio
from tests.web.test_browser import ARGS, CHROMIUM, LIMIT_MS, keep
from web.runner import attach_web

pytestmark = pytest.mark.slow

IMAGES = 20  # the owner's sets are held to the default minimum (min_training_images)
STEPS = 4
RUN_LIMIT_S = 240.0  # a bound on a hang, not a speed expectation


@pytest.fixture
async def studio(tmp_path: Path, tiny_manager) -> AsyncIterator[Studio]:
    """The web on the real engine with the tiny models (tiny-sd, tiny-blip captions, tiny-clip checks)."""
    settings = load_settings(
        env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu", STUDIO_DEFAULT_MODEL="tiny-sd"
    )
    host = EngineHost(EngineConfig(captioner="tiny-blip", embedder="tiny-clip"), manager_factory=lambda: tiny_manager)
    async with open_services(settings, host=host, owner="studio web") as services:
        server = attach_web(services, settings, "127.0.0.1", 0)
        await services.jobs.start()
        yield Studio(settings, services, server, host)  # type: ignore[arg-type]
        server.events.shutdown.set()


async def filled(owner: httpx.AsyncClient, studio: Studio, tmp_path: Path) -> None:
    """A set of IMAGES planted images uploaded through the API, captioned and checked."""
    assert (await owner.post("/api/trainsets", json={"name": "mila", "trigger_word": "zzmila"})).status_code == 201
    files = []
    for item in planted_images(tmp_path / "planted", IMAGES):
        buffer = io.BytesIO()
        Image.open(item.path).save(buffer, format="PNG")
        files.append(("files", (item.path.name, buffer.getvalue(), "image/png")))
    added = await owner.post("/api/trainsets/mila/items", files=files)
    assert added.status_code == 200 and len(added.json()["added"]) == IMAGES, added.text
    await settle(studio.services, RUN_LIMIT_S)  # captions
    assert (await owner.post("/api/trainsets/mila/check")).json()["ready"]


async def planned(owner: httpx.AsyncClient, studio: Studio, tmp_path: Path) -> dict:
    await filled(owner, studio, tmp_path)
    plan = await owner.post("/api/training", json={"set_name": "mila", "name": "Mila", "steps": STEPS})
    assert plan.status_code == 201, plan.text
    return plan.json()


async def test_a_run_is_planned_started_followed_chosen_and_downloaded(
    owner: httpx.AsyncClient, studio: Studio, tmp_path: Path
) -> None:
    plan = await planned(owner, studio, tmp_path)
    rows = {row["label"]: row for row in plan["rows"]}
    assert rows["Steps"] == {"label": "Steps", "value": str(STEPS), "source": "you"}
    assert rows["Batch size"]["source"] == "model preset"
    assert plan["images"] == IMAGES and plan["estimate_s"] > 0 and plan["disk_bytes"] > 0
    started = await owner.post(plan["start_url"])
    assert started.status_code == 202, started.text
    assert (await owner.post(plan["start_url"])).status_code == 409  # a second click
    job = await studio.services.jobs.wait(started.json()["job_id"], RUN_LIMIT_S)
    assert job.status == "done", job.error
    run = (await owner.get(f"/api/training/{plan['run_id']}")).json()
    assert run["run"]["status"] == "done" and run["run"]["model_name"] == "Mila" and run["step"] == STEPS
    assert [step for step, _loss in run["losses"]] == list(range(1, STEPS + 1))
    assert run["samples_per_s"] > 0 and run["eta_s"] is None
    assert run["log"][-1].endswith(f"done: registered as Mila ({STEPS} steps)")
    assert f"step {STEPS}/{STEPS}: loss " in run["log"][-2]
    checkpoints = run["checkpoints"]
    assert [c["step"] for c in checkpoints] == list(range(1, STEPS + 1)) and checkpoints[-1]["chosen"]
    assert all(c["consistency"] is not None and c["samples_url"] for c in checkpoints)
    for url in (checkpoints[0]["samples_url"], run["newest_grid_url"], run["scales_url"]):
        picture = await owner.get(url)
        assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG"), url
    chosen = await owner.post(f"/api/training/{plan['run_id']}/checkpoint", json={"step": 2})
    assert chosen.json() == {"model_name": "Mila", "chosen_step": 2, "test_url": "/models/Mila/test"}
    kohya = await owner.get(run["download_url"])
    diffusers = await owner.get(run["download_url"], params={"format": "diffusers"})
    assert kohya.status_code == diffusers.status_code == 200 and kohya.content != diffusers.content
    assert "attachment" in kohya.headers["content-disposition"]
    assert kohya.content[8:9] == b"{"  # safetensors: an 8-byte length, then its JSON header
    wrong = await owner.get(run["download_url"], params={"format": "ckpt"})
    assert wrong.status_code == 409 and "kohya, diffusers" in wrong.json()["detail"]
    tail = (await owner.get(f"/api/training/{plan['run_id']}/log", params={"lines": 2})).json()["lines"]
    assert tail == run["log"][-2:]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (as .ci/run does)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is in the dev extra")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.mark.browser
async def test_watch_a_run_to_its_end_then_test_the_lora_at_three_scales(
    owner: httpx.AsyncClient, studio: Studio, browser, tmp_path: Path
) -> None:
    await filled(owner, studio, tmp_path)
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 1000})
        page.set_default_timeout(LIMIT_MS * 4)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/train/new?set=mila")
        await page.fill("#name", "Mila")
        await page.fill("#steps", str(STEPS))
        await page.click("#plan")
        await page.wait_for_selector("#plan-rows td:text('you')")
        await page.screenshot(path=str(tmp_path / "train-new.png"), full_page=True)
        await page.click("#start")
        await page.wait_for_url(f"{base}/train/runs/*")
        await page.wait_for_selector("body[data-ended]")
        assert await page.get_attribute("body", "data-ended") == "done"
        assert await page.text_content("#step") == f"{STEPS}/{STEPS}"
        assert await page.locator("#plot polyline.loss").count() == 1
        assert await page.locator(".checkpoint").count() == STEPS
        assert await page.locator(".checkpoint.chosen").count() == 1
        assert "done: registered as Mila" in await page.text_content("#log")
        await page.click(".checkpoint[data-step='2'] .choose")
        await page.wait_for_selector(".checkpoint.chosen[data-step='2']")
        await page.screenshot(path=str(tmp_path / "train-run.png"), full_page=True)
        await page.click("#model a")
        await page.wait_for_url(f"{base}/models/Mila/test")
        await page.click("#go")
        await page.wait_for_function(
            """() => {
                const imgs = [...document.querySelectorAll('.scale img')];
                return imgs.length === 3 && imgs.every((img) => img.complete && img.naturalWidth > 0);
            }"""
        )
        scales = await page.eval_on_selector_all(".scale", "figs => figs.map((f) => f.dataset.scale)")
        assert scales == ["0.8", "1.0", "1.2"]
        assert await page.inner_text("#form-error") == ""
        await page.screenshot(path=str(tmp_path / "train-test.png"), full_page=True)
    finally:
        await studio.server.stop()
    keep(tmp_path, "train-run.png")
    print(f"screenshots in {tmp_path}")
