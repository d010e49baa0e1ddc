"""The history of one's own jobs (`GalleryApi.history`), and deleting images with their thumbnails."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from studio.errors import NotFound, Refused
from tests.studio.gallery_seed import ALICE, BOB, PUBLIC, make_job, viewer


async def test_history_is_the_callers_own_jobs_newest_first_paged(services, tmp_path: Path) -> None:
    db = services.db
    first = await make_job(db, ALICE.user_id, ALICE.guild_id, ["one", "two"], folder=tmp_path)
    await make_job(db, BOB.user_id, BOB.guild_id, ["bob's"], folder=tmp_path, posted_in=PUBLIC)
    second = await make_job(db, ALICE.user_id, ALICE.guild_id, ["three"], folder=tmp_path)
    mine = await services.gallery.history(viewer(ALICE))
    assert [e.job_id for e in mine.jobs] == [second[0].job_id, first[0].job_id] and mine.next_before_id is None
    assert mine.jobs[1].image_ids == tuple(i.id for i in first)
    assert mine.jobs[0].parameters == {"prompt": "three", "spoiler": False}
    page = await services.gallery.history(viewer(ALICE), limit=1)
    assert [e.job_id for e in page.jobs] == [second[0].job_id] and page.next_before_id == second[0].job_id
    rest = await services.gallery.history(viewer(ALICE), before_id=page.next_before_id, limit=1)
    assert [e.job_id for e in rest.jobs] == [first[0].job_id] and rest.next_before_id is None
    assert "bob's" not in str(await services.gallery.history(viewer(ALICE, PUBLIC)))


async def test_deleting_images_takes_their_thumbnails_and_only_the_owners(services, tmp_path: Path) -> None:
    (image,) = await make_job(services.db, ALICE.user_id, ALICE.guild_id, ["a fox"], folder=tmp_path)
    Image.new("RGB", (64, 64), (9, 9, 9)).save(image.path, format="PNG")
    thumb = await services.thumbnails.thumbnail(viewer(ALICE), image.id)
    assert thumb.is_file()
    with pytest.raises(NotFound):  # Bob cannot see it: not found, and nothing deleted
        await services.thumbnails.delete_images(viewer(BOB), [image.id])
    (posted,) = await make_job(services.db, BOB.user_id, BOB.guild_id, ["bob's"], folder=tmp_path, posted_in=PUBLIC)
    with pytest.raises(Refused):  # Alice sees Bob's posted image, but may not delete it
        await services.thumbnails.delete_images(viewer(ALICE, PUBLIC), [image.id, posted.id])
    assert thumb.is_file() and image.path.is_file()
    deleted = await services.thumbnails.delete_images(viewer(ALICE), [image.id])
    assert deleted.image_ids == (image.id,) and deleted.files == 1
    assert not thumb.exists() and not image.path.exists()
