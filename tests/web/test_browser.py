"""The Create page in a real browser: Debian's Chromium driven by Playwright (marked `browser`).

Sign in with the token (it leaves the address bar), generate 4 images, and watch the grid fill with their
thumbnails as the job's events arrive. Screenshots of each page go to the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.conftest import Studio

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Headless, as root in CI, and quiet: no calls to Google services this network refuses (shared/web-notes.md §4).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIMIT_MS = 60_000  # a bound on a hang, not a speed expectation


@pytest.fixture
def step_s() -> float:
    return 0.02  # steps slow enough for the page to show progress


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


async def test_sign_in_generate_four_and_watch_the_grid_fill(studio: Studio, browser, tmp_path: Path) -> None:
    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    try:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")
        assert page.url == f"{base}/"  # the token left the address bar
        await page.fill("#prompt", "a lighthouse at dusk")
        await page.check('input[name="num_outputs"][value="4"]')
        await page.screenshot(path=str(tmp_path / "create.png"))
        await page.click("#generate")
        await page.wait_for_selector(".job .status:text-matches('queued|starting|Generating|done')")
        await page.wait_for_function(
            """() => {
                const imgs = [...document.querySelectorAll('.job .grid img')];
                return imgs.length === 4 && imgs.every((img) => img.complete && img.naturalWidth > 0);
            }"""
        )
        assert await page.text_content(".job .status") == "done"
        assert await page.text_content(".job .summary") == "a lighthouse at dusk"
        assert await page.get_attribute(".job progress", "value") == await page.get_attribute(".job progress", "max")
        thumbs = await page.eval_on_selector_all(".job .grid img", "imgs => imgs.map((i) => i.getAttribute('src'))")
        assert all(src.startswith("/media/images/") and src.endswith("/thumb") for src in thumbs)
        assert await page.inner_text("#form-error") == ""
        await page.screenshot(path=str(tmp_path / "create-done.png"), full_page=True)
        await page.goto(f"{base}/docs")
        assert "/api/generate/text-to-image" in await page.content()
        await page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    finally:
        await studio.server.stop()
    print(f"screenshots in {tmp_path}")
