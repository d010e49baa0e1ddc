"""The Gallery in a real browser (marked `browser`): a search narrows the grid, two picked images go into a
collection, and the image page shows the metadata; a screenshot of every archive page goes to the test's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.gallery.api import Viewer
from tests.web.conftest import Studio
from tests.web.test_browser import LIMIT_MS, browser  # noqa: F401  (a fixture)
from tests.web.test_gallery_api import make
from web.auth import LOCAL_OWNER

pytestmark = pytest.mark.browser

OTHER_PAGES = ["/collections", "/history", "/tools", "/queue", "/autoposts", "/settings"]


async def test_search_pick_two_into_a_collection_and_open_one(studio: Studio, browser, tmp_path: Path) -> None:  # noqa: F811
    foxes = await make(studio, LOCAL_OWNER, "a red fox in the snow", count=2)
    await make(studio, LOCAL_OWNER, "a blue whale under the sea")
    barn = await make(studio, LOCAL_OWNER, "a red barn at dawn")
    coast = await studio.services.collections.create(Viewer(LOCAL_OWNER), "Favourite foxes")
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        await page.goto(f"{base}/gallery")
        loaded = "n => document.querySelectorAll('#grid .cell img').length === n"
        await page.wait_for_function(loaded, arg=4)
        await page.wait_for_function("() => [...document.querySelectorAll('#grid img')].every((i) => i.complete)")
        await page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)

        await page.fill("#q", "red")
        await page.wait_for_function(loaded, arg=3)
        shown = await page.eval_on_selector_all("#grid .cell", "cells => cells.map((c) => Number(c.dataset.id))")
        assert sorted(shown) == sorted(foxes + barn)
        titles = await page.eval_on_selector_all("#grid .cell", "cells => cells.map((c) => c.title)")
        assert all("red" in title for title in titles)

        for image_id in foxes:
            await page.click(f'#grid .cell[data-id="{image_id}"] img')
        assert await page.locator("#grid .cell.picked").count() == 2
        assert await page.is_visible("#selection")
        await page.select_option("#to-collection", str(coast.id))
        await page.click("#add-collection")
        await page.wait_for_selector("#sel-message:text('Added 2')")
        await page.screenshot(path=str(tmp_path / "gallery-picked.png"))
        inside = (await studio.services.collections.get(Viewer(LOCAL_OWNER), coast.id)).size
        assert inside == 2

        await page.click(f'#grid .cell[data-id="{foxes[0]}"] a.open')
        await page.wait_for_url(f"{base}/images/{foxes[0]}")
        detail = await studio.services.gallery.detail(Viewer(LOCAL_OWNER), foxes[0])
        assert await page.text_content("#prompt") == "a red fox in the snow"
        assert await page.text_content("#seed") == str(detail.seed)
        assert "Favourite foxes" in await page.text_content("#in-collections")
        await page.wait_for_function("() => document.querySelector('#image img').complete")
        await page.click("#star")
        await page.wait_for_selector("#star[aria-pressed='true']")
        assert (await studio.services.gallery.image(Viewer(LOCAL_OWNER), foxes[0])).favourite
        await page.screenshot(path=str(tmp_path / "image.png"), full_page=True)

        await page.click("#again")
        await page.wait_for_url(f"{base}/?*")
        assert await page.input_value("#prompt") == "a red fox in the snow"
        assert await page.input_value("#seed") == str(detail.seed)

        await page.goto(f"{base}/collections/{coast.id}")
        await page.wait_for_function(loaded, arg=2)
        await page.screenshot(path=str(tmp_path / "collection.png"), full_page=True)
        for path in OTHER_PAGES:
            await page.goto(f"{base}{path}")
            await page.screenshot(path=str(tmp_path / f"{path.strip('/')}.png"), full_page=True)
    finally:
        await studio.server.stop()
    print(f"screenshots in {tmp_path}")
