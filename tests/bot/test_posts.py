"""Every message the bot posts with images is recorded in `posts`, so a reaction on it means one image.

Keycap n on a grid picks image n; ⭐ on a single image (a U button's message, a result of one) picks it;
anything else, or any message that is not one of the bot's results, means no image. The map is in
SQLite: it holds for messages posted before a restart.
"""

from __future__ import annotations

from bot.ui.reactions import image_for_reaction
from tests.bot.conftest import job_of
from tests.bot.fakediscord import CHANNEL_ID, GUILD_ID

FAST = {"steps": 2, "model": "tiny-sd"}


async def _grid(fake, studio) -> tuple[int, dict]:
    ix = fake.slash("generate", prompt="a cat", count=4, **FAST)
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done"
    return job.id, fake.original(ix)


async def test_a_reaction_on_a_grid_a_single_and_a_message_from_before_a_restart(fake, studio, bot) -> None:
    job_id, grid = await _grid(fake, studio)
    click = fake.click(f"studio:u:{job_id}:3", message=grid)
    await fake.wait_for(lambda: fake.original(click)["attachments"])
    single = fake.original(click)
    images = await studio.services.db.images.for_job(job_id)

    async def picked(message: dict, emoji: str) -> tuple[int, int] | None:
        posted = await image_for_reaction(studio.services, int(message["id"]), emoji)
        return None if posted is None else (posted.image_id, posted.number)

    for services_of_the_day in ("before", "after a restart"):
        # A grid: keycap n is image n, as numbered on the message (and in its attachments).
        assert await picked(grid, "1️⃣") == (images[0].id, 1), services_of_the_day
        assert await picked(grid, "3\u20e3") == (images[2].id, 3)  # some clients send no presentation selector
        assert await picked(grid, "4️⃣") == (images[3].id, 4)
        assert await picked(grid, "5️⃣") is None  # the grid has four images
        assert await picked(grid, "⭐") is None  # which one? a star needs a single image
        # The U button's message shows image 3 alone: a star picks it, keycaps mean nothing there.
        assert await picked(single, "⭐") == (images[2].id, 1)
        assert await picked(single, "1️⃣") is None
        # Any other message, or any other emoji, is not a pick.
        assert await picked({"id": "12345"}, "⭐") is None
        assert await picked(grid, "🔥") is None
        await studio.open()  # new services and a new bot on the same database

    posts = await studio.services.db.posts.for_message(int(grid["id"]))
    assert {(p.role, p.channel_id, p.guild_id) for p in posts} == {("grid", CHANNEL_ID, GUILD_ID)}
    (u_post,) = await studio.services.db.posts.for_message(int(single["id"]))
    assert (u_post.role, u_post.image_id) == ("single", images[2].id)


async def test_a_result_of_one_image_is_a_single(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="a dog", count=1, **FAST)
    job = await studio.wait(await job_of(fake, ix))
    message = fake.original(ix)
    (image,) = await studio.services.db.images.for_job(job.id)
    posted = await image_for_reaction(studio.services, int(message["id"]), "⭐")
    assert posted is not None and (posted.image_id, posted.job_id, posted.index) == (image.id, job.id, 0)
    assert posted.path == image.path
