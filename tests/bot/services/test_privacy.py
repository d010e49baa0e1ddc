from __future__ import annotations

from pathlib import Path

from bot.services.privacy import delete_user_data
from storage import open_database

ME, OTHER = 1, 2


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


async def _image(db, job_id: int, path: Path, **params: object) -> None:
    await db.images.add(
        job_id, 0, path, sha256="0" * 64, size_bytes=1, width=8, height=8, seed=1, prompt="p", model="m", params=params
    )


async def test_delete_user_removes_uploads_masks_overlays_grids_and_job_folders(tmp_path: Path) -> None:
    up, images = tmp_path / "uploads", tmp_path / "images"
    mine_upload, shared = _touch(up / "aaa.png"), _touch(up / "bbb.png")
    mask = _touch(up / "mask-ccc-64x64.png")
    folder = images / "0000002"
    overlay, grid, picture = _touch(folder / "mask_overlay.png"), _touch(folder / "grid.png"), _touch(folder / "0.png")
    db = await open_database(tmp_path / "studio.db")
    try:
        await db.jobs.create("describe", {"prompt": "d", "source_image": str(mine_upload)}, ME)
        edit = await db.jobs.create(
            "edit",
            {"prompt": "e", "source_image": str(shared), "mask_image": str(mask), "extra_files": [str(overlay)]},
            ME,
        )
        await _image(db, edit.id, picture, grid=str(grid))
        # The other user uploaded the same bytes: the content-named file is theirs too.
        await db.jobs.create("vary", {"prompt": "t", "source_image": str(shared)}, OTHER)

        counts = await delete_user_data(db, ME)
    finally:
        await db.close()

    assert counts["files"] == 5
    for gone in (mine_upload, mask, overlay, grid, picture, folder):
        assert not gone.exists(), gone
    assert shared.exists()
    assert images.is_dir()
