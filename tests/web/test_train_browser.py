"""The set page in Chromium (marked `browser`): quick select 25 of a contact sheet of candidates, then deselect one;
the count against the 20-30 target and the green borders follow, and the set holds what the page shows."""

from __future__ import annotations

import pytest

from studio.images.api import GenerateInput
from tests.web.conftest import JOB_LIMIT_S, Studio
from tests.web.test_browser import LIMIT_MS, browser  # noqa: F401 - the fixture
from tests.web.test_training_run import keep
from web.auth import LOCAL_OWNER

pytestmark = pytest.mark.browser

CANDIDATES = 32  # four jobs of eight


async def test_quick_select_25_then_deselect_one(studio: Studio, browser, tmp_path) -> None:  # noqa: F811
    services = studio.services
    for n in range(CANDIDATES // 8):
        ticket = await services.generate.submit(LOCAL_OWNER, GenerateInput(prompt=f"a round figure, take {n}", count=8))
        assert (await services.jobs.wait(ticket.job_id, JOB_LIMIT_S)).status == "done"
    await services.trainsets.create(LOCAL_OWNER, "mila", trigger_word="zzmila")
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 1000})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/train/sets/mila")
        assert await page.locator("#candidates .pick").count() == CANDIDATES
        await page.wait_for_selector("#count:text('0 selected')")
        await page.screenshot(path=str(tmp_path / "train-set-empty.png"), full_page=True)
        await page.click("#quick")
        await page.wait_for_selector("#count:text('25 selected · target 20–30')")
        pressed = page.locator('#candidates .pick[aria-pressed="true"]')
        assert await pressed.count() == 25
        assert await page.get_attribute("#count", "class") == "count in-range"
        border = await pressed.first.evaluate("(node) => getComputedStyle(node).borderTopColor")
        assert border == "rgb(62, 207, 110)"  # the green of --ok
        unpicked = page.locator('#candidates .pick[aria-pressed="false"]').first
        assert await unpicked.evaluate("(node) => getComputedStyle(node).borderTopColor") != border
        dropped = await pressed.nth(3).get_attribute("data-image")
        await pressed.nth(3).click()
        await page.wait_for_selector("#count:text('24 selected')")
        assert await pressed.count() == 24
        assert await page.get_attribute(f'.pick[data-image="{dropped}"]', "aria-pressed") == "false"
        await page.wait_for_function(
            """() => {
                const imgs = [...document.querySelectorAll('#items .item img')];
                return imgs.length === 24 && imgs.every((img) => img.complete && img.naturalWidth > 0);
            }"""
        )
        assert await page.inner_text("#error") == ""
        await page.screenshot(path=str(tmp_path / "train-set.png"))
        await page.screenshot(path=str(tmp_path / "train-set-full.png"), full_page=True)
    finally:
        await studio.server.stop()
    shown = await services.trainsets.show(LOCAL_OWNER, "mila")
    assert len(shown.items) == 24 and int(dropped) not in {item.image_id for item in shown.items}
    keep(tmp_path, "train-set.png")
    print(f"screenshots in {tmp_path}")


async def test_a_character_sheet_from_an_upload_leads_to_its_set_page(studio: Studio, browser, tmp_path) -> None:  # noqa: F811
    from tests.web.test_training_api import png

    await studio.services.trainsets.create(LOCAL_OWNER, "mila")
    reference = tmp_path / "reference.png"
    reference.write_bytes(png((180, 120, 90), 96))
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/train")
        await page.screenshot(path=str(tmp_path / "train-hub.png"), full_page=True)
        await page.goto(f"{base}/train/sheet")
        await page.set_input_files("#image", str(reference))
        await page.select_option("#set-name", "mila")
        await page.click("#start")
        await page.wait_for_selector("#to-set:visible")
        assert await page.locator("#group-list .group").count() >= 4
        assert await page.locator("#group-list img").count() == 30
        await page.screenshot(path=str(tmp_path / "train-sheet.png"), full_page=True)
        await page.click("#to-set")
        await page.wait_for_url(f"{base}/train/sets/mila?jobs=*")
        assert await page.locator("#candidates .pick").count() == 30
        await page.wait_for_selector("#count:text('0 selected')")
    finally:
        await studio.server.stop()
    print(f"screenshots in {tmp_path}")


async def test_the_owner_trains_anyway_on_a_set_under_its_minimum(studio: Studio, browser, tmp_path) -> None:  # noqa: F811
    from tests.web.test_training_api import _few, _resuming_trainer

    studio.host.register_task("train", _resuming_trainer)
    await _few(studio, LOCAL_OWNER, "few")
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/train/new?set=few")
        assert await page.locator("#force").is_hidden()
        await page.fill("#name", "Few")
        await page.fill("#steps", "2")
        await page.click("#plan")
        await page.wait_for_selector("#force:visible")
        assert await page.inner_text("#force") == "Train anyway on 4 images"
        assert "not ready to train" in await page.inner_text("#form-error")
        assert await studio.services.training.list(LOCAL_OWNER) == []  # the refused plan stored nothing
        await page.click("#force")
        await page.wait_for_url(f"{base}/train/runs/*")
    finally:
        await studio.server.stop()
    (run,) = await studio.services.training.list(LOCAL_OWNER)
    assert run.status in ("queued", "running", "stopped") and run.steps == 2


async def test_an_interrupted_run_resumes_from_its_page(studio: Studio, browser) -> None:  # noqa: F811
    from tests.web.test_training_api import _left_queued, _resuming_trainer

    studio.host.register_task("train", _resuming_trainer)
    run_id, job_id = await _left_queued(studio, steps=6, checkpoint=3)
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/train/runs/{run_id}")
        await page.click("#resume")  # visible only while the run's job waits with nobody to run it
        await page.wait_for_selector("#status:text('stopped')")
        assert await page.is_hidden("#resume")
        assert (await studio.services.db.jobs.get(job_id)).origin == "web"
    finally:
        await studio.server.stop()
