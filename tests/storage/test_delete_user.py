from __future__ import annotations

from pathlib import Path

from storage import Database

from .conftest import make_image

ME, OTHER = 1, 2


async def test_delete_user_data_removes_mine_and_keeps_theirs(db: Database) -> None:
    # My job with two images, reacted to by me and by the other user.
    mine = await db.jobs.create("generate", {"prompt": "mine"}, ME, guild_id=7)
    my_a = await make_image(db, mine.id, 0)
    my_b = await make_image(db, mine.id, 1)
    # The other user's job and image.
    theirs = await db.jobs.create("generate", {"prompt": "theirs"}, OTHER, guild_id=7)
    their_img = await make_image(db, theirs.id, 0)
    await db.reactions.add(900, ME, "1️⃣", image_id=my_a.id)
    await db.reactions.add(900, OTHER, "2️⃣", image_id=my_b.id)
    await db.reactions.add(901, ME, "⭐", image_id=their_img.id)
    await db.reactions.add(901, OTHER, "⭐", image_id=their_img.id)
    # The other user's training set: holds my image (added by them), an upload I added, and their own image.
    their_set = await db.training_sets.create("their-set", 7, OTHER)
    await db.training_sets.add_item(their_set.id, my_a.path, added_by=OTHER, image_id=my_a.id)
    await db.training_sets.add_item(their_set.id, "/sets/their-set/mine-upload.png", added_by=ME)
    kept_item = await db.training_sets.add_item(their_set.id, their_img.path, added_by=OTHER, image_id=their_img.id)
    # My own training set, with an item the other user added.
    my_set = await db.training_sets.create("my-set", 7, ME)
    await db.training_sets.add_item(my_set.id, "/sets/my-set/x.png", added_by=OTHER)
    await db.usage.add(ME, 7, 2)
    await db.usage.add(OTHER, 7, 1)
    await db.schedules.create("mine", 7, 70, "0 9 * * *", "p", ME)
    kept_schedule = await db.schedules.create("theirs", 7, 70, "0 9 * * *", "p", OTHER)
    await db.models.add("my-lora", "Mine", "lora", "sd15", "/loras/mine.safetensors", created_by=ME)

    report = await db.delete_user_data(ME)

    assert set(report.image_paths) == {my_a.path, my_b.path}
    assert set(report.training_paths) == {Path("/sets/their-set/mine-upload.png"), Path("/sets/my-set/x.png")}
    assert report.counts == {
        "reactions": 3,  # two on my images (one by the other user) and my star on theirs
        "training_items": 3,
        "training_sets": 1,
        "images": 2,
        "jobs": 1,
        "usage": 1,
        "schedules": 1,
        "models_unlinked": 1,
    }
    assert report.total == 13
    # Mine is gone.
    assert await db.jobs.list_for_user(ME, 10) == []
    assert await db.images.get(my_a.id) is None
    assert await db.training_sets.get(my_set.id) is None
    assert await db.usage.images_on(ME, 7) == 0
    assert (await db.models.get("my-lora")).created_by is None
    # Theirs stays, minus what pointed at my data.
    assert await db.jobs.get(theirs.id) == theirs
    assert await db.images.get(their_img.id) == their_img
    assert [r.user_id for r in await db.reactions.for_image(their_img.id)] == [OTHER]
    assert await db.training_sets.get(their_set.id) == their_set
    assert await db.training_sets.items(their_set.id) == [kept_item]
    assert await db.usage.images_on(OTHER, 7) == 1
    assert [s.id for s in await db.schedules.list()] == [kept_schedule.id]
    # Nothing left that names me, and the foreign keys still hold.
    for table, column in [("jobs", "requester_id"), ("reactions", "user_id"), ("training_items", "added_by")]:
        row = await db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (ME,))
        assert row[0] == 0, table
    assert await db.fetchall("PRAGMA foreign_key_check") == []


async def test_delete_user_data_for_an_unknown_user_is_empty(db: Database) -> None:
    await db.jobs.create("generate", {}, OTHER)
    report = await db.delete_user_data(ME)
    assert report.total == 0
    assert report.image_paths == ()
    assert len(await db.jobs.list_for_user(OTHER, 10)) == 1


async def test_delete_user_data_lists_the_files_of_the_jobs_and_keeps_shared_uploads(db: Database) -> None:
    # My /describe upload, my /edit with an uploaded mask and an overlay, a grid on my generation.
    await db.jobs.create("describe", {"prompt": "d", "source_image": "/up/only-mine.png"}, ME)
    await db.jobs.create(
        "edit",
        {
            "prompt": "e",
            "source_image": "/up/shared.png",
            "mask_image": "/up/mask-abc-64x64.png",
            "extra_files": ["/images/0000002/mask_overlay.png"],
        },
        ME,
    )
    gen = await db.jobs.create("generate", {"prompt": "g"}, ME)
    await make_image(db, gen.id, 0, params={"grid": "/images/3/grid.png"})
    await make_image(db, gen.id, 1, params={"grid": "/images/3/grid.png"})
    # The other user uploaded the same bytes (same content-hash name); their image's grid stays too.
    theirs = await db.jobs.create("vary", {"prompt": "t", "source_image": "/up/shared.png"}, OTHER)
    await make_image(db, theirs.id, 0, params={"grid": "/images/9/grid.png"})

    report = await db.delete_user_data(ME)

    assert set(report.job_paths) == {
        Path("/up/only-mine.png"),
        Path("/up/mask-abc-64x64.png"),
        Path("/images/0000002/mask_overlay.png"),
        Path("/images/3/grid.png"),
    }
    assert not set(report.job_paths) & set(report.image_paths)


async def test_delete_user_data_keeps_an_upload_another_user_still_uses_as_mask(db: Database) -> None:
    await db.jobs.create("edit", {"prompt": "e", "source_image": "/up/a.png", "mask_image": "/up/m.png"}, ME)
    await db.jobs.create("edit", {"prompt": "e", "source_image": "/up/m.png"}, OTHER)
    report = await db.delete_user_data(ME)
    assert report.job_paths == (Path("/up/a.png"),)
