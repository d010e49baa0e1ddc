"""Deleting a user's data: the rows, then every file their jobs recorded, keeping what others still use."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from studio.images.api import EditImageInput, GenerateInput
from studio.privacy import delete_user_data
from tests.studio.conftest import ALICE, BOB

FAST = {"steps": 2, "model": "tiny-sd"}


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _mask() -> bytes:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and p.suffix != ".db" and "studio.db" not in p.name}


async def test_delete_user_removes_every_file_their_jobs_recorded(services, delivery, settings) -> None:
    await services.db.guild_settings.update(ALICE.guild_id, max_concurrent_per_user=10)
    await services.jobs.start()
    shared = _png((10, 200, 10))
    # Alice: a /describe of her own upload, an /edit of a shared upload with a mask (overlay, grid),
    # a /generate (images, grid), and a /edit that found its mask from words.
    await services.describe.describe(ALICE, _png((200, 10, 10)), 2)
    edited = await services.edits.edit_image(ALICE, shared, EditImageInput("a hat", count=2), _mask())
    generated = await services.generate.submit(ALICE, GenerateInput("a fox", count=2, **FAST))
    region = await services.edits.edit_image(ALICE, shared, EditImageInput("a storm", region="the sky", count=1))
    # Bob uploaded the same bytes: the content-named upload is his too, and his job's files stay.
    bobs = await services.edits.edit_image(BOB, shared, EditImageInput("a scarf", count=1), _mask())
    for ticket in (edited, generated, region, bobs):
        assert (await services.jobs.wait(ticket.job_id, limit_s=60)).status == "done"
    bob_files = {f.path for f in await services.db.job_files.for_job(bobs.job_id)}
    before = _files(settings.data_dir)
    assert len(before) >= 14

    counts = await delete_user_data(services.db, ALICE.user_id)

    after = _files(settings.data_dir)
    assert after == bob_files  # the shared upload and the mask stay: Bob's job still names them
    assert counts["files"] == len(before) - len(after)
    assert counts["jobs"] == 4 and counts["job_files"] >= 12
    for ticket in (edited, generated, region):
        assert not (settings.images_dir / f"{ticket.job_id:07d}").exists()  # the job folders went too
    assert (settings.images_dir / f"{bobs.job_id:07d}").is_dir()
