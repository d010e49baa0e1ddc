"""Images stored as finished jobs leave them (rows and files), for the gallery's tests."""

from __future__ import annotations

from pathlib import Path

from storage import Database
from storage.records import ImageRecord
from studio.contract import Caller
from studio.gallery.api import Viewer

GUILD, OTHER_GUILD = 42, 43
PUBLIC, PRIVATE, ELSEWHERE = 70, 71, 80  # channels: of GUILD (two) and of OTHER_GUILD
ALICE = Caller(user_id=1, guild_id=GUILD)
BOB = Caller(user_id=2, guild_id=GUILD)
CAROL = Caller(user_id=3, guild_id=OTHER_GUILD)
OWNER = Caller(user_id=0, bypasses_server_policy=True, origin="cli")


def viewer(caller: Caller, *channels: int, adult: bool = False) -> Viewer:
    return Viewer(caller, frozenset(channels), adult)


async def make_job(
    db: Database,
    requester: int,
    guild_id: int | None,
    prompts: list[str],
    *,
    folder: Path,
    spoiler: bool = False,
    model: str = "tiny-sd",
    loras: tuple[tuple[str, float], ...] = (),
    posted_in: int | None = None,
    message_id: int | None = None,
) -> list[ImageRecord]:
    """A done generation of one image per prompt, its files written, posted as one message in `posted_in`."""
    job = await db.jobs.create("generate", {"prompt": prompts[0], "spoiler": spoiler}, requester, guild_id=guild_id)
    images = []
    for index, prompt in enumerate(prompts):
        path = folder / f"{job.id:07d}" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"png")
        images.append(
            await db.images.add(
                job.id,
                index,
                path,
                sha256=f"{job.id:032x}{index:032x}",
                size_bytes=3,
                width=64,
                height=64,
                seed=100 + index,
                prompt=prompt,
                model=model,
                loras=loras,
                params={"steps": 4, "guidance": 7.5, "scheduler": "euler", "mode": "txt2img", "base_model": "tiny-sd"},
            )
        )
    await db.job_files.add(job.id, [(i.path, "output") for i in images])
    if posted_in is not None:
        await db.posts.record(
            message_id or 9000 + job.id,
            [i.id for i in images],
            "grid" if len(images) > 1 else "single",
            channel_id=posted_in,
            guild_id=guild_id,
        )
    return images
