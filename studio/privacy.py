"""Deleting a user's data on request: rows first, then their files."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from storage import Database
from studio.images.thumbs import thumbnail_path

log = logging.getLogger(__name__)


def unlink_all(paths: tuple[Path, ...]) -> int:
    """Delete the files (blocking: call it in a thread); how many went. One that cannot go is logged, not raised."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not delete %s: %s", path, exc)
    return removed


def _remove_empty_folders(folders: tuple[Path, ...]) -> None:
    # A job's folder holds only that job's files; rmdir leaves any folder that still has something in it.
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            continue


async def delete_user_data(db: Database, user_id: int, thumbs_dir: Path | None = None) -> dict[str, int]:
    """Remove everything stored about `user_id`, with their images' thumbnails in `thumbs_dir`; other users' rows
    stay intact."""
    report = await db.delete_user_data(user_id)
    thumbs = tuple(thumbnail_path(thumbs_dir, path) for path in report.image_paths) if thumbs_dir else ()
    files = await asyncio.to_thread(unlink_all, report.image_paths + report.training_paths + report.job_paths + thumbs)
    await asyncio.to_thread(_remove_empty_folders, tuple(dict.fromkeys(p.parent for p in report.image_paths)))
    counts = {name: n for name, n in report.counts.items() if n}
    if files:
        counts["files"] = files
    log.info("deleted data of user %s: %s", user_id, counts)
    return counts
