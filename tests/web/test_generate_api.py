"""Generating through the API on the fake engine: the ticket, the job's status and images, the files they point
at (ETag, 304, HEAD, thumbnails), the follow-ups, the queue and the docs."""

from __future__ import annotations

import io
import json

import httpx
from PIL import Image

from studio.contract import Caller
from tests.web.conftest import JOB_LIMIT_S, Studio


async def generate(owner: httpx.AsyncClient, studio: Studio, **options: object) -> dict:
    """Generate through the API and wait for the job; returns its status."""
    answer = await owner.post("/api/generate/text-to-image", json={"prompt": "a red lighthouse", **options})
    assert answer.status_code == 202, answer.text
    ticket = answer.json()
    await studio.services.jobs.wait(ticket["job_id"], JOB_LIMIT_S)
    status = await owner.get(ticket["status_url"])
    assert status.status_code == 200, status.text
    return status.json()


async def test_models_list_the_base_models_with_trained_loras_first(owner: httpx.AsyncClient) -> None:
    answer = await owner.get("/api/models")
    assert answer.status_code == 200
    models = answer.json()
    assert "tiny-sd" in [m["name"] for m in models]
    kinds = [m["kind"] for m in models]
    assert kinds == sorted(kinds, key=lambda kind: kind != "lora")


async def test_four_images_come_back_with_media_urls(owner: httpx.AsyncClient, studio: Studio) -> None:
    job = await generate(owner, studio, num_outputs=4, seed=7, aspect="1:1")
    assert job["status"] == "done"
    assert [image["index"] for image in job["images"]] == [0, 1, 2, 3]
    assert [image["seed"] for image in job["images"]] == [7, 8, 9, 10]
    assert all(image["url"] == f"/media/images/{image['id']}" for image in job["images"])
    assert studio.host.manager().calls[-1].count == 4
    assert "path" not in json.dumps(job)  # files by id, never by path


async def test_every_generate_option_reaches_the_engine(owner: httpx.AsyncClient, studio: Studio) -> None:
    options = {
        "num_outputs": 2,
        "negative_prompt": "blurry",
        "seed": 5,
        "steps": 6,
        "guidance": 4.5,
        "scheduler": "euler",
        "aspect": "16:9",
        "model": "tiny-sd",
        "extras": {"clip_skip": "2"},  # SD 1.5's own setting, as the Create form sends it
    }
    job = await generate(owner, studio, **options)
    assert job["status"] == "done", job
    request = studio.host.manager().calls[-1]
    assert (request.count, request.negative, request.seed) == (2, "blurry", 5)
    assert (request.steps, request.guidance, request.scheduler) == (6, 4.5, "euler")
    assert request.extras == {"clip_skip": 2}  # checked and typed by the family when queued
    assert all(image["width"] > image["height"] for image in job["images"])  # 16:9


async def test_a_count_other_than_1_2_4_8_is_refused_in_words(owner: httpx.AsyncClient) -> None:
    answer = await owner.post("/api/generate/text-to-image", json={"prompt": "x", "num_outputs": 3})
    assert answer.status_code == 422
    assert "num_outputs must be one of 1, 2, 4, 8" in answer.text


async def test_a_setting_the_model_lacks_is_the_cores_refusal(owner: httpx.AsyncClient) -> None:
    body = {"prompt": "x", "model": "tiny-flux", "extras": {"clip_skip": 2}}
    answer = await owner.post("/api/generate/text-to-image", json=body)
    assert answer.status_code in (400, 409, 422)
    assert "FLUX models take no setting 'clip_skip'" in answer.json()["detail"]


async def test_an_unknown_model_is_the_cores_refusal(owner: httpx.AsyncClient) -> None:
    answer = await owner.post("/api/generate/text-to-image", json={"prompt": "x", "model": "no-such-model"})
    assert answer.status_code in (404, 409, 422)
    assert "no-such-model" in answer.json()["detail"]


async def test_image_files_have_etags_304_head_and_immutable_caching(owner: httpx.AsyncClient, studio: Studio) -> None:
    job = await generate(owner, studio, num_outputs=1)
    url = job["images"][0]["url"]
    first = await owner.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert "immutable" in first.headers["cache-control"]
    assert first.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(first.content)) as img:
        assert img.size == (job["images"][0]["width"], job["images"][0]["height"])
    again = await owner.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    other = await owner.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content
    head = await owner.head(url)
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", first.headers["etag"])


async def test_thumbnails_are_small_webp_kept_on_disk(owner: httpx.AsyncClient, studio: Studio) -> None:
    job = await generate(owner, studio, num_outputs=1, aspect="16:9")
    image = job["images"][0]
    thumb = await owner.get(image["thumb"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as img:
        assert img.format == "WEBP"
        assert max(img.size) <= 256 and img.size[0] > img.size[1]
    assert len(list(studio.settings.thumbs_dir.glob("*.webp"))) == 1  # kept on disk
    again = await owner.get(image["thumb"], headers={"If-None-Match": thumb.headers["etag"]})
    assert again.status_code == 304


async def test_a_missing_image_or_job_is_404(owner: httpx.AsyncClient) -> None:
    assert (await owner.get("/media/images/999")).status_code == 404
    assert (await owner.get("/media/images/999/thumb")).status_code == 404
    assert (await owner.get("/api/generate/999")).status_code == 404
    assert (await owner.get("/api/jobs/999/events")).status_code == 404


async def test_follow_ups_reroll_remix_vary_and_upscale(owner: httpx.AsyncClient, studio: Studio) -> None:
    job = await generate(owner, studio, num_outputs=2, seed=3)
    job_id = job["job_id"]
    reroll = await owner.post(f"/api/jobs/{job_id}/reroll")
    remix = await owner.post(f"/api/jobs/{job_id}/remix", json={"prompt": "a blue lighthouse"})
    vary = await owner.post(f"/api/jobs/{job_id}/vary", json={"index": 1, "strength": "strong"})
    assert [a.status_code for a in (reroll, remix, vary)] == [202, 202, 202], (reroll.text, remix.text, vary.text)
    ids = {a.json()["job_id"] for a in (reroll, remix, vary)}
    assert len(ids) == 3 and job_id not in ids
    for new in ids:
        assert (await studio.services.jobs.wait(new, JOB_LIMIT_S)).status == "done"
    remixed = await owner.get(f"/api/generate/{remix.json()['job_id']}")
    assert remixed.json()["summary"].startswith("a blue lighthouse")
    upscale = await owner.post(f"/api/jobs/{job_id}/upscale", json={"index": 1})
    assert upscale.status_code == 200
    assert upscale.json()["id"] == job["images"][1]["id"]
    missing = await owner.post(f"/api/jobs/{job_id}/upscale", json={"index": 5})
    assert missing.status_code == 404


async def test_cancel_a_queued_job(owner: httpx.AsyncClient, studio: Studio) -> None:
    await studio.services.jobs.stop()  # nothing dispatches: the job stays queued
    answer = await owner.post("/api/generate/text-to-image", json={"prompt": "x", "num_outputs": 1})
    job_id = answer.json()["job_id"]
    assert (await owner.get(f"/api/generate/{job_id}")).json()["status"] == "queued"
    cancelled = await owner.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (await owner.get(f"/api/generate/{job_id}")).json()["status"] == "cancelled"
    again = await owner.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


async def test_the_queue_hides_other_servers_prompts(owner: httpx.AsyncClient, studio: Studio) -> None:
    await studio.services.jobs.stop()
    member = Caller(user_id=42, guild_id=7, channel_id=1)
    from studio.images.api import GenerateInput

    await studio.services.generate.submit(member, GenerateInput(prompt="a secret prompt", count=1))
    await owner.post("/api/generate/text-to-image", json={"prompt": "my own prompt", "num_outputs": 1})
    queue = (await owner.get("/api/queue")).json()
    summaries = {entry["mine"]: entry["summary"] for entry in queue["waiting"]}
    assert "my own prompt" in summaries[True]
    assert summaries[False] == "(elsewhere)"
    assert "a secret prompt" not in json.dumps(queue)


async def test_docs_list_every_api_operation_offline(owner: httpx.AsyncClient) -> None:
    schema = (await owner.get("/openapi.json")).json()
    page = await owner.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for path in schema["paths"]:
        assert path in page.text
    assert "/api/generate/text-to-image" in schema["paths"]
