"""The archive's pages (server-rendered, through the ASGI app) and the upload routes (describe, vary, edit)."""

from __future__ import annotations

import io
import re
from html import unescape

import httpx
from PIL import Image

from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from tests.web.conftest import JOB_LIMIT_S, Studio
from tests.web.test_gallery_api import MEMBER, make, member  # noqa: F401  (a fixture)
from web.auth import LOCAL_OWNER

PAGES = ["/gallery", "/collections", "/history", "/tools", "/queue", "/autoposts", "/settings"]


def png(size: tuple[int, int] = (96, 64)) -> bytes:
    image = Image.new("RGB", size, (200, 40, 40))
    image.paste((20, 90, 220), (0, 0, size[0] // 2, size[1] // 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_every_archive_page_renders_with_its_script(owner: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    for path in PAGES:
        page = await owner.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert f'href="{path}" aria-current="page"' in page.text  # in the navigation, marked as here
        assert "<script>" not in page.text and "style=" not in page.text  # the CSP allows neither inline
        assert (await client.get(path)).status_code == 401  # the sign-in page, to nobody
    for script in ("gallery", "image", "history", "collections", "tools", "autoposts", "settings"):
        assert (await client.get(f"/static/{script}.js")).status_code == 200


async def test_the_image_page_shows_its_metadata_and_settings_link(owner: httpx.AsyncClient, studio: Studio) -> None:
    (image,) = await make(studio, LOCAL_OWNER, "a lighthouse & a boat")
    made = (await owner.post("/api/collections", json={"name": "Coast"})).json()
    await owner.post(f"/api/collections/{made['id']}/images", json={"image_ids": [image]})
    page = await owner.get(f"/images/{image}")
    assert page.status_code == 200
    assert "a lighthouse &amp; a boat" in page.text  # escaped
    assert f'href="/collections/{made["id"]}">Coast</a>' in page.text
    detail = (await owner.get(f"/api/images/{image}")).json()
    assert f'<td id="seed">{detail["seed"]}</td>' in page.text
    link = unescape(re.search(r'id="again" href="([^"]+)"', page.text).group(1))
    assert link.startswith("/?") and "prompt=a+lighthouse+%26+a+boat" in link and f"seed={detail['seed']}" in link
    assert (await owner.get("/images/999999")).status_code == 404
    assert (await owner.get(f"/collections/{made['id']}")).status_code == 200


async def test_the_image_page_shows_the_models_own_settings_and_carries_them_over(
    owner: httpx.AsyncClient, studio: Studio
) -> None:
    options = GenerateInput(prompt="an anime fox", model="tiny-sd", count=1, extras={"clip_skip": "2"})
    ticket = await studio.services.generate.submit(LOCAL_OWNER, options)
    assert (await studio.services.jobs.wait(ticket.job_id, JOB_LIMIT_S)).status == "done"
    (image,) = (await studio.services.gallery.job_result(Viewer(LOCAL_OWNER), ticket.job_id)).images
    page = await owner.get(f"/images/{image.image_id}")
    assert '<td id="settings"><code>clip_skip=2</code></td>' in page.text
    assert (await owner.get(f"/api/images/{image.image_id}")).json()["settings"] == "clip_skip=2"
    link = unescape(re.search(r'id="again" href="([^"]+)"', page.text).group(1))
    assert "settings=clip_skip%3D2" in link  # the Create page fills its "Model settings" field from it


async def test_a_member_gets_404_for_anothers_image_page(member: httpx.AsyncClient, studio: Studio) -> None:  # noqa: F811
    (owners,) = await make(studio, LOCAL_OWNER, "the owner's page")
    page = await member.get(f"/images/{owners}")
    assert page.status_code == 404 and "the owner's page" not in page.text


async def test_history_and_queue_pages(owner: httpx.AsyncClient, studio: Studio) -> None:
    await make(studio, LOCAL_OWNER, "a job for the history")
    history = await owner.get("/history")
    assert "a job for the history" in history.text and 'class="rerun"' in history.text
    assert "Nothing." in (await owner.get("/queue")).text  # the fake engine is done already


async def test_describe_vary_and_edit_take_uploads_checked_by_content(owner: httpx.AsyncClient, studio: Studio) -> None:
    described = await owner.post("/api/describe", files={"image": ("a.png", png(), "image/png")}, data={"count": "2"})
    assert described.status_code == 200, described.text
    assert len(described.json()["prompts"]) == 2
    not_image = await owner.post("/api/describe", files={"image": ("a.png", b"<?php echo 1; ?>", "image/png")})
    assert not_image.status_code == 422 and not_image.json()["detail"]  # one line saying why
    varied = await owner.post(
        "/api/vary", files={"image": ("a.png", png(), "image/png")}, data={"instruction": "make it winter"}
    )
    assert varied.status_code == 202, varied.text
    assert (await studio.services.jobs.wait(varied.json()["job_id"], JOB_LIMIT_S)).status == "done"
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (10, 10, 40, 40))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    edited = await owner.post(
        "/api/edit",
        files={"image": ("a.png", png(), "image/png"), "mask": ("m.png", buffer.getvalue(), "image/png")},
        data={"instruction": "a red door"},
    )
    assert edited.status_code == 202, edited.text
    assert (await owner.post("/api/vary", data={"instruction": "x"})).status_code == 422  # no image
    big = b"\x89PNG" + b"0" * (studio.settings.max_attachment_bytes + 1)
    too_big = await owner.post("/api/vary", files={"image": ("a.png", big, "image/png")}, data={"instruction": "x"})
    assert too_big.status_code == 413
