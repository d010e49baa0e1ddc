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
    # My reactions feed their set; theirs feed mine (that goes with my set).
    await db.training_sets.set_active(7, ME, their_set.id)
    await db.training_sets.set_active(7, OTHER, my_set.id)
    await db.usage.add(ME, 7, 2)
    await db.usage.add(OTHER, 7, 1)
    my_schedule = await db.schedules.create("mine", 7, 70, "0 9 * * *", "p", ME)
    kept_schedule = await db.schedules.create("theirs", 7, 70, "0 9 * * *", "p", OTHER)
    # Slots claimed by both schedules; theirs was posted by a job of mine (a "run now" of their schedule).
    from datetime import UTC, datetime

    slot = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await db.schedules.claim(my_schedule.id, slot) and await db.schedules.claim(kept_schedule.id, slot)
    await db.schedules.slot_job(kept_schedule.id, slot, mine.id)
    await db.models.add("my-lora", "Mine", "lora", "sd15", "/loras/mine.safetensors", created_by=ME)
    # My training run on my set, whose checkpoint both of us voted for.
    run = await db.training_runs.plan(
        guild_id=7,
        requester_id=ME,
        set_id=my_set.id,
        set_name="my-set",
        output_name="my-lora",
        base_model="sd15",
        trigger_word=None,
        plan={},
    )
    await db.training_runs.set_checkpoints(run.id, [{"step": 10, "lora_path": "/runs/1/ckpt/lora.safetensors"}])
    (checkpoint,) = await db.training_runs.checkpoints(run.id)
    await db.training_runs.vote(checkpoint.id, ME, up=True)
    await db.training_runs.vote(checkpoint.id, OTHER, up=True)
    # The messages that show the images, and the files the jobs recorded.
    await db.posts.record(800, [my_a.id, my_b.id], "grid")
    await db.posts.record(801, [their_img.id], "single")
    await db.job_files.add(mine.id, [(my_a.path, "output"), (my_b.path, "output")])
    await db.job_files.add(theirs.id, [(their_img.path, "output")])

    # Stars: mine on theirs, theirs on mine and on their own; collections: mine holding their image, theirs
    # holding my image and their own; an API token each.
    await db.favourites.add(ME, their_img.id)
    await db.favourites.add(OTHER, my_a.id)
    await db.favourites.add(OTHER, their_img.id)
    my_collection = await db.collections.create(ME, 7, "Best")
    await db.collections.add_images(my_collection.id, [their_img.id])
    their_collection = await db.collections.create(OTHER, 7, "Best")
    await db.collections.add_images(their_collection.id, [my_a.id, their_img.id])
    await db.api_tokens.add(ME, 7, "script", "a" * 64)
    their_token = await db.api_tokens.add(OTHER, 7, "script", "b" * 64)

    report = await db.delete_user_data(ME)

    assert set(report.image_paths) == {my_a.path, my_b.path}
    assert set(report.training_paths) == {Path("/sets/their-set/mine-upload.png"), Path("/sets/my-set/x.png")}
    assert report.counts == {
        "reactions": 3,  # two on my images (one by the other user) and my star on theirs
        "posts": 2,  # the grid of my two images
        "training_items": 3,
        "active_training_sets": 1,
        "training_sets": 1,
        "job_files": 2,
        "images": 2,
        "jobs": 1,
        "usage": 1,
        "schedules": 1,
        "models": 1,  # unlinked: the model stays, without its author
        "schedule_slots": 2,  # my schedule's, and the one my job posted
        "checkpoint_votes": 1,
        "training_runs": 1,  # unlinked: it stays with the model it made
        "favourites": 2,  # my star on theirs, their star on mine
        "collection_items": 2,  # my collection's entry, and my image in theirs
        "collections": 1,
        "api_tokens": 1,
    }
    assert report.total == 28
    assert report.job_paths == ()  # the job's files are its images, listed in image_paths
    # Mine is gone.
    assert await db.jobs.list_for_user(ME, 10) == []
    assert await db.images.get(my_a.id) is None
    assert await db.training_sets.get(my_set.id) is None
    assert await db.usage.images_on(ME, 7) == 0
    assert await db.training_sets.active(7, ME) is None
    assert await db.training_sets.active(7, OTHER) is None  # it was my set
    assert (await db.models.get("my-lora")).created_by is None
    kept_run = await db.training_runs.get(run.id)
    assert kept_run.requester_id is None and kept_run.set_id is None
    assert [c.votes for c in await db.training_runs.checkpoints(run.id)] == [1]  # theirs
    # Theirs stays, minus what pointed at my data.
    assert await db.jobs.get(theirs.id) == theirs
    assert await db.images.get(their_img.id) == their_img
    assert [r.user_id for r in await db.reactions.for_image(their_img.id)] == [OTHER]
    assert await db.training_sets.get(their_set.id) == their_set
    assert await db.training_sets.items(their_set.id) == [kept_item]
    assert await db.usage.images_on(OTHER, 7) == 1
    assert [s.id for s in await db.schedules.list()] == [kept_schedule.id]
    assert await db.posts.for_message(800) == []
    assert await db.collections.list(ME, 7) == []
    assert [(c.id, c.size) for c in await db.collections.list(OTHER, 7)] == [(their_collection.id, 1)]
    assert await db.api_tokens.list(ME) == []
    assert await db.api_tokens.list(OTHER) == [their_token]
    stars = await db.fetchall("SELECT user_id, image_id FROM favourites")
    assert [tuple(r) for r in stars] == [(OTHER, their_img.id)]
    assert [p.image_id for p in await db.posts.for_message(801)] == [their_img.id]
    assert [f.path for f in await db.job_files.for_job(theirs.id)] == [their_img.path]
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
    described = await db.jobs.create("describe", {}, ME)
    await db.job_files.add(described.id, [("/up/only-mine.png", "source")])
    edit = await db.jobs.create("edit", {}, ME)
    await db.job_files.add(
        edit.id,
        [
            ("/up/shared.png", "source"),
            ("/up/mask-abc-64x64.png", "mask"),
            ("/images/0000002/mask_overlay.png", "overlay"),
        ],
    )
    gen = await db.jobs.create("generate", {}, ME)
    a = await make_image(db, gen.id, 0)
    b = await make_image(db, gen.id, 1)
    await db.job_files.add(gen.id, [(a.path, "output"), (b.path, "output"), ("/images/3/grid.png", "grid")])
    # A training run's checkpoint: any role is deleted the same way.
    train = await db.jobs.create("train", {}, ME)
    await db.job_files.add(train.id, [("/runs/4/step-100.safetensors", "checkpoint")])
    # The other user uploaded the same bytes (same content-hash name); their grid stays too.
    theirs = await db.jobs.create("vary", {}, OTHER)
    await db.job_files.add(theirs.id, [("/up/shared.png", "source"), ("/images/9/grid.png", "grid")])

    report = await db.delete_user_data(ME)

    assert set(report.job_paths) == {
        Path("/up/only-mine.png"),
        Path("/up/mask-abc-64x64.png"),
        Path("/images/0000002/mask_overlay.png"),
        Path("/images/3/grid.png"),
        Path("/runs/4/step-100.safetensors"),
    }
    assert set(report.image_paths) == {a.path, b.path}
    assert not set(report.job_paths) & set(report.image_paths)


async def test_delete_user_data_keeps_an_upload_another_user_still_uses_as_mask(db: Database) -> None:
    mine = await db.jobs.create("edit", {}, ME)
    await db.job_files.add(mine.id, [("/up/a.png", "source"), ("/up/m.png", "mask")])
    theirs = await db.jobs.create("edit", {}, OTHER)
    await db.job_files.add(theirs.id, [("/up/m.png", "source")])
    report = await db.delete_user_data(ME)
    assert report.job_paths == (Path("/up/a.png"),)


async def _tables_missing_from_the_deletion(db: Database) -> list[str]:
    """Tables with a column naming a user, or children of jobs or images, that DELETE_USER_STEPS leaves out."""
    from storage.db import DELETE_USER_STEPS, USER_COLUMNS

    deleted = {table for table, _sql in DELETE_USER_STEPS}
    tables = [r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    missing = []
    for table in tables:
        if table.startswith("sqlite_"):
            continue
        columns = {r["name"] for r in await db.fetchall(f"PRAGMA table_info({table})")}
        parents = {r["table"] for r in await db.fetchall(f"PRAGMA foreign_key_list({table})")}
        if (columns & USER_COLUMNS or parents & {"jobs", "images"}) and table not in deleted:
            missing.append(table)
    return missing


async def test_every_table_that_names_a_user_is_in_the_deletion(db: Database) -> None:
    """A new table with a user column, or a new child of jobs or images, must be added to DELETE_USER_STEPS."""
    assert await _tables_missing_from_the_deletion(db) == []


async def test_the_deletion_guard_catches_a_new_table(db: Database) -> None:
    await db.execute("CREATE TABLE votes (id INTEGER PRIMARY KEY, voter INTEGER, added_by INTEGER NOT NULL)")
    await db.execute("CREATE TABLE thumbnails (image_id INTEGER REFERENCES images (id), path TEXT)")
    assert await _tables_missing_from_the_deletion(db) == ["votes", "thumbnails"]
