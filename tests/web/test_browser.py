"""The Create page in a real browser: Debian's Chromium driven by Playwright (marked `browser`).

Sign in with the token (it leaves the address bar), generate 4 images, and watch the grid fill with their
thumbnails as the job's events arrive; screenshots of each page go to the test's temporary folder. And a page on
another port of 127.0.0.1 (which Chromium calls `same-site`, and sends the session cookie from) queues nothing.
"""

from __future__ import annotations

import os
import shutil
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
DOCS = Path(__file__).resolve().parents[2] / "docs"


def keep(folder: Path, *names: str) -> None:
    """Copy the screenshots the README shows into docs/ when asked (STUDIO_KEEP_SCREENSHOTS=1)."""
    if os.environ.get("STUDIO_KEEP_SCREENSHOTS") == "1":
        for name in names:
            shutil.copyfile(folder / name, DOCS / f"web-{name}")


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
        await page.click("#create details summary")
        await page.fill("#settings", "clip_skip=2")  # SD 1.5's own setting, sent as the API's `extras`
        await page.screenshot(path=str(tmp_path / "create-form.png"))
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
        assert studio.host.manager().calls[-1].extras == {"clip_skip": 2}
        assert await page.get_attribute(".job progress", "value") == await page.get_attribute(".job progress", "max")
        thumbs = await page.eval_on_selector_all(".job .grid img", "imgs => imgs.map((i) => i.getAttribute('src'))")
        assert all(src.startswith("/media/images/") and src.endswith("/thumb") for src in thumbs)
        assert await page.inner_text("#form-error") == ""
        await page.screenshot(path=str(tmp_path / "create.png"), full_page=True)
        await page.goto(f"{base}/docs")
        assert "/api/generate/text-to-image" in await page.content()
        await page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    finally:
        await studio.server.stop()
    keep(tmp_path, "create.png")  # the README's docs/web-create.png
    print(f"screenshots in {tmp_path}")


ATTACK_PAGE = """<!doctype html><html><body>
<form id="form" method="post" action="{target}" enctype="text/plain">
  <input name='{{"prompt": "from another port", "num_outputs": 1, "x": "' value='"}}'>
</form>
<script>
  fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
                      headers: {{"Content-Type": "text/plain"}},
                      body: JSON.stringify({{prompt: "from another port", num_outputs: 1}})}})
    .finally(() => document.getElementById("form").submit());
</script></body></html>"""


async def test_a_page_on_another_port_cannot_queue_a_job(studio: Studio, browser) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from web.events import WebEvents
    from web.server import WebServer

    assert await studio.server.start()
    base = f"http://127.0.0.1:{studio.server.port}"
    target = f"{base}/api/generate/text-to-image"
    page_html = ATTACK_PAGE.format(target=target)
    attacker = Starlette(routes=[Route("/", lambda request: HTMLResponse(page_html))])
    other = WebServer(attacker, WebEvents(), "127.0.0.1", 0)  # type: ignore[arg-type]
    assert await other.start()
    try:
        page = await browser.new_page()
        page.set_default_timeout(LIMIT_MS)
        await page.goto(f"{base}/?token={studio.token}")  # signed in: the browser holds the session cookie
        async with page.expect_response(target) as refused:
            await page.goto(f"http://127.0.0.1:{other.port}/")  # the fetch, then the form's top-level POST
        answer = await refused.value  # the no-cors fetch (the guard's words: not the missing CSRF header's)
        assert answer.status == 403 and "another site or port" in await answer.text()
        await page.wait_for_url(target)  # the form's POST, as a navigation
        assert "another site or port" in await page.content()
        assert await studio.services.db.jobs.list_for_user(0, limit=10) == []  # neither queued a job
    finally:
        await other.stop()
        await studio.server.stop()
