"""Looking at one job by id (its requester, a moderator of its server, or the owner; nobody else) and at an
image's thumbnail (whoever the gallery shows the image to). Ids are sequential, so every look-up checks who asks;
a refusal reads as not found (nothing to probe)."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from PIL import Image

from studio.container import Services
from studio.contract import Caller
from studio.errors import NotFound
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput, ResultImage
from studio.images.thumbnail_api import THUMB_PX
from studio.privacy import delete_user_data
from tests.studio.conftest import RecordingDelivery

REQUESTER = Caller(user_id=11, guild_id=1, channel_id=5)
NEIGHBOUR = Caller(user_id=12, guild_id=1, channel_id=5)
MODERATOR_HERE = Caller(user_id=13, guild_id=1, may_moderate=True)
MODERATOR_ELSEWHERE = Caller(user_id=14, guild_id=2, may_moderate=True)
OWNER = Caller(user_id=0, bypasses_server_policy=True, may_moderate=True, origin="cli")


async def _images(services: Services, caller: Caller, job_id: int) -> tuple[ResultImage, ...]:
    return (await services.gallery.job_result(Viewer(caller), job_id)).images


async def _done_job(services: Services) -> int:
    await services.jobs.start()
    ticket = await services.generate.submit(REQUESTER, GenerateInput(prompt="a quiet harbour", count=2, steps=2))
    assert (await services.jobs.wait(ticket.job_id, 30)).status == "done"
    return ticket.job_id


async def test_who_may_see_a_job_and_its_thumbnails(services: Services, delivery: RecordingDelivery) -> None:
    job_id = await _done_job(services)
    images = await _images(services, REQUESTER, job_id)
    assert [image.index for image in images] == [0, 1]
    for allowed in (REQUESTER, MODERATOR_HERE, OWNER):
        view = await services.jobs.job(allowed, job_id)
        assert (view.status, view.position) == ("done", None)
        assert "a quiet harbour" in view.summary
    for refused in (NEIGHBOUR, MODERATOR_ELSEWHERE):
        with pytest.raises(NotFound):
            await services.jobs.job(refused, job_id)
    for allowed in (REQUESTER, OWNER):
        assert (await services.thumbnails.thumbnail(Viewer(allowed), images[1].image_id)).is_file()
    for refused in (NEIGHBOUR, MODERATOR_HERE):  # never posted in a channel they may view: the gallery's rule
        with pytest.raises(NotFound):
            await services.thumbnails.thumbnail(Viewer(refused), images[0].image_id)


async def test_a_queued_job_shows_its_place(services: Services, delivery: RecordingDelivery) -> None:
    first = await services.generate.submit(REQUESTER, GenerateInput(prompt="one", count=1))
    second = await services.generate.submit(NEIGHBOUR, GenerateInput(prompt="two", count=1))
    view = await services.jobs.job(NEIGHBOUR, second.job_id)  # not started: both wait
    assert (view.status, view.position, view.step) == ("queued", 1, 0)
    assert (await services.jobs.job(REQUESTER, first.job_id)).position == 0


async def test_a_thumbnail_is_made_once_and_small(services: Services, delivery: RecordingDelivery) -> None:
    job_id = await _done_job(services)
    image = (await _images(services, REQUESTER, job_id))[0]
    path = await services.thumbnails.thumbnail(Viewer(REQUESTER), image.image_id)
    made = path.stat().st_mtime_ns
    with Image.open(io.BytesIO(path.read_bytes())) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= THUMB_PX
    assert await services.thumbnails.thumbnail(Viewer(OWNER), image.image_id) == path
    assert path.stat().st_mtime_ns == made  # kept, not made again


async def test_thumbnails_asked_for_at_once_are_made_safely(
    services: Services, delivery: RecordingDelivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await _done_job(services)
    images = await _images(services, REQUESTER, job_id)
    save = Image.Image.save

    def slow_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        time.sleep(0.05)  # a large image's encoding: the threads' writes overlap
        save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", slow_save)
    asks = [services.thumbnails.thumbnail(Viewer(REQUESTER), image.image_id) for image in images for _ in range(8)]
    paths = await asyncio.gather(*asks)  # each image's thumbnail made by up to eight threads at once
    assert len(set(paths)) == len(images)
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted({p.name for p in paths})  # no leftovers


async def test_deleting_a_users_data_deletes_their_thumbnails(services: Services, delivery: RecordingDelivery) -> None:
    job_id = await _done_job(services)
    theirs = await _images(services, REQUESTER, job_id)
    thumbs = [await services.thumbnails.thumbnail(Viewer(REQUESTER), image.image_id) for image in theirs]
    other = await services.generate.submit(NEIGHBOUR, GenerateInput(prompt="someone else's", count=1, steps=2))
    assert (await services.jobs.wait(other.job_id, 30)).status == "done"
    (kept,) = await _images(services, NEIGHBOUR, other.job_id)
    kept_thumb = await services.thumbnails.thumbnail(Viewer(NEIGHBOUR), kept.image_id)
    await delete_user_data(services.db, REQUESTER.user_id, services.settings.thumbs_dir)
    assert [path.exists() for path in thumbs] == [False, False]
    assert kept_thumb.exists()


async def test_an_image_whose_file_is_gone_is_not_found(services: Services, delivery: RecordingDelivery) -> None:
    job_id = await _done_job(services)
    image = (await _images(services, REQUESTER, job_id))[0]
    image.path.unlink()
    with pytest.raises(NotFound, match="gone"):
        await services.thumbnails.thumbnail(Viewer(REQUESTER), image.image_id)
