from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage import Database, DuplicateError, NotFoundError

from .conftest import FakeClock, make_image


async def _job(db: Database, user: int = 1) -> int:
    return (await db.jobs.create("generate", {"prompt": "p"}, user)).id


# -- images ------------------------------------------------------------------------------------


async def test_images_round_trip(db: Database) -> None:
    job_id = await _job(db)
    first = await make_image(
        db,
        job_id,
        0,
        negative_prompt="blurry",
        loras=[("ink-style", 0.8), ("pixel", 1)],
        params={"steps": 20, "guidance": 7.5},
    )
    second = await make_image(db, job_id, 1)
    assert first.path == Path(f"/images/{job_id}/0.png")
    assert first.loras == (("ink-style", 0.8), ("pixel", 1.0))
    assert first.params == {"steps": 20, "guidance": 7.5}
    assert (first.index, first.seed, first.negative_prompt) == (0, 42, "blurry")
    assert second.loras == ()
    assert await db.images.get(first.id) == first
    assert await db.images.get(999) is None
    assert [i.id for i in await db.images.for_job(job_id)] == [first.id, second.id]


# -- posts and job files ---------------------------------------------------------------------------


async def test_posts_map_a_message_to_its_images_by_number(db: Database) -> None:
    job_id = await _job(db)
    first, second = await make_image(db, job_id, 0), await make_image(db, job_id, 1)
    posts = await db.posts.record(20, [second.id, first.id], "grid", channel_id=10, guild_id=5)
    assert [(p.number, p.image_id, p.role, p.channel_id, p.guild_id) for p in posts] == [
        (1, second.id, "grid", 10, 5),
        (2, first.id, "grid", 10, 5),
    ]
    await db.posts.record(21, [first.id], "single")
    assert [p.message_id for p in await db.posts.for_image(first.id)] == [20, 21]
    assert await db.posts.for_message(22) == []
    # Recording a message again replaces what it showed (an edited result).
    await db.posts.record(20, [first.id], "single")
    assert [(p.number, p.image_id) for p in await db.posts.for_message(20)] == [(1, first.id)]


async def test_post_errors_are_clear(db: Database) -> None:
    job_id = await _job(db)
    image = await make_image(db, job_id, 0)
    with pytest.raises(ValueError, match="role"):
        await db.posts.record(20, [image.id], "poster")
    with pytest.raises(ValueError, match="1 to 10 images"):
        await db.posts.record(20, [], "grid")
    with pytest.raises(NotFoundError, match="message 20"):
        await db.posts.record(20, [999], "grid")
    assert await db.posts.for_message(20) == []  # nothing half-written


async def test_job_files_record_each_path_once_with_its_first_role(db: Database) -> None:
    job_id = await _job(db)
    assert await db.job_files.add(job_id, [("/up/a.png", "source"), (Path("/images/1/0.png"), "output")]) == 2
    assert await db.job_files.add(job_id, [("/up/a.png", "mask")]) == 0
    files = await db.job_files.for_job(job_id)
    assert [(f.path, f.role) for f in files] == [(Path("/up/a.png"), "source"), (Path("/images/1/0.png"), "output")]
    assert [f.path for f in await db.job_files.for_job(job_id, "output")] == [Path("/images/1/0.png")]
    with pytest.raises(NotFoundError, match="job 999"):
        await db.job_files.add(999, [("/x.png", "source")])
    with pytest.raises(ValueError, match="role"):
        await db.job_files.add(job_id, [("/y.png", "")])


async def test_image_errors_are_clear(db: Database) -> None:
    job_id = await _job(db)
    await make_image(db, job_id, 0)
    with pytest.raises(DuplicateError, match="already has an image 0"):
        await make_image(db, job_id, 0)
    with pytest.raises(NotFoundError, match="job 999"):
        await make_image(db, 999, 0)


# -- models ------------------------------------------------------------------------------------


async def test_models_round_trip(db: Database) -> None:
    base = await db.models.add("tiny-sd", "Tiny SD", "base", "sd15", "builtin:tiny-sd", config={"steps": 4})
    lora = await db.models.add(
        "ink-style",
        "Ink",
        "lora",
        "sd15",
        "/loras/ink.safetensors",
        base_model="tiny-sd",
        trigger_word="inkart",
        created_by=5,
    )
    await db.models.add("captioner", "Captioner", "base", "blip", "hub/blip", category="caption")
    assert (base.category, base.config, base.active, base.created_by) == ("image", {"steps": 4}, True, None)
    assert (lora.base_model, lora.trigger_word, lora.created_by) == ("tiny-sd", "inkart", 5)
    assert await db.models.get("tiny-sd") == base
    assert await db.models.get("nope") is None
    assert [m.name for m in await db.models.list()] == ["tiny-sd", "ink-style"]
    assert [m.name for m in await db.models.list(kind="lora")] == ["ink-style"]
    assert [m.name for m in await db.models.list(category="caption")] == ["captioner"]
    assert len(await db.models.list(category=None)) == 3

    assert await db.models.set_active("ink-style", False) is True
    assert [m.name for m in await db.models.list()] == ["tiny-sd"]
    assert [m.name for m in await db.models.list(active_only=False)] == ["tiny-sd", "ink-style"]
    assert await db.models.set_active("nope", True) is False
    assert await db.models.delete("ink-style") is True
    assert await db.models.delete("ink-style") is False
    assert await db.models.get("ink-style") is None


async def test_model_names_must_be_unique_slugs(db: Database) -> None:
    await db.models.add("tiny-sd", "Tiny SD", "base", "sd15", "x")
    with pytest.raises(DuplicateError, match="already exists"):
        await db.models.add("tiny-sd", "Again", "base", "sd15", "y")
    with pytest.raises(ValueError, match="not a slug"):
        await db.models.add("Bad Name!", "x", "base", "sd15", "y")
    with pytest.raises(ValueError, match="'base' or 'lora'"):
        await db.models.add("fine", "x", "vae", "sd15", "y")


# -- training sets -----------------------------------------------------------------------------


async def test_training_sets_round_trip(db: Database) -> None:
    job_id = await _job(db)
    image = await make_image(db, job_id)
    made = await db.training_sets.create("my-cat", 7, 1, trigger_word="mycat", base_model="tiny-sd")
    dm = await db.training_sets.create("my-cat", None, 1)
    other = await db.training_sets.create("dogs", 7, 2)
    assert (made.guild_id, made.owner_id, made.trigger_word, made.base_model) == (7, 1, "mycat", "tiny-sd")
    assert await db.training_sets.get(made.id) == made
    assert await db.training_sets.get_by_name(7, "my-cat") == made
    assert await db.training_sets.get_by_name(None, "my-cat") == dm
    assert await db.training_sets.get_by_name(8, "my-cat") is None
    assert [s.name for s in await db.training_sets.list(7)] == ["dogs", "my-cat"]
    assert [s.id for s in await db.training_sets.list(None)] == [dm.id]
    with pytest.raises(DuplicateError, match="already exists"):
        await db.training_sets.create("my-cat", 7, 3)
    with pytest.raises(DuplicateError):
        await db.training_sets.create("my-cat", None, 3)

    item = await db.training_sets.add_item(made.id, image.path, added_by=1, image_id=image.id, caption="a cat")
    assert item is not None
    assert (item.set_id, item.image_id, item.path, item.caption) == (made.id, image.id, image.path, "a cat")
    assert await db.training_sets.add_item(made.id, "/elsewhere.png", added_by=2, image_id=image.id) is None
    upload = await db.training_sets.add_item(made.id, "/uploads/u.png", added_by=2)
    assert await db.training_sets.add_item(made.id, "/uploads/u.png", added_by=2) is None
    assert await db.training_sets.add_item(other.id, image.path, added_by=2, image_id=image.id) is not None
    assert [i.id for i in await db.training_sets.items(made.id)] == [item.id, upload.id]

    await db.training_sets.set_caption(upload.id, "an upload")
    assert (await db.training_sets.items(made.id))[1].caption == "an upload"
    with pytest.raises(NotFoundError):
        await db.training_sets.set_caption(999, "x")
    with pytest.raises(NotFoundError):
        await db.training_sets.add_item(999, "/x.png", added_by=1)

    assert await db.training_sets.remove_item(upload.id) is True
    assert await db.training_sets.remove_item(upload.id) is False
    assert await db.training_sets.delete(made.id) is True
    assert await db.training_sets.get(made.id) is None
    assert await db.training_sets.items(made.id) == []
    assert len(await db.training_sets.items(other.id)) == 1
    assert await db.training_sets.delete(made.id) is False


# -- reactions ---------------------------------------------------------------------------------


async def test_reactions_round_trip(db: Database) -> None:
    job_id = await _job(db)
    one = await make_image(db, job_id, 0)
    two = await make_image(db, job_id, 1)
    assert await db.reactions.add(500, 1, "1️⃣", image_id=one.id) is True
    assert await db.reactions.add(500, 1, "1️⃣", image_id=one.id) is False  # a replayed event
    assert await db.reactions.add(500, 2, "1️⃣", image_id=one.id) is True
    assert await db.reactions.add(500, 2, "2️⃣", image_id=two.id) is True
    assert await db.reactions.add(500, 3, "🔥") is True
    assert await db.reactions.add(500, 2, "⭐", image_id=one.id) is True

    on_message = await db.reactions.for_message(500)
    assert len(on_message) == 5
    assert {r.emoji for r in on_message} == {"1️⃣", "2️⃣", "🔥", "⭐"}
    assert all(r.created_at.tzinfo is not None for r in on_message)
    assert [r.user_id for r in await db.reactions.for_image(two.id)] == [2]
    assert await db.reactions.users_for_image(one.id) == [1, 2]
    assert await db.reactions.users_for_image(one.id, "⭐") == [2]

    assert await db.reactions.remove(500, 1, "1️⃣") is True
    assert await db.reactions.remove(500, 1, "1️⃣") is False
    assert await db.reactions.users_for_image(one.id) == [2]
    with pytest.raises(NotFoundError):
        await db.reactions.add(501, 1, "⭐", image_id=999)


# -- schedules ---------------------------------------------------------------------------------


async def test_a_slot_is_claimed_once_and_wildcards_are_per_server(db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    schedule = await db.schedules.create("daily", 7, 70, "0 9 * * *", "a cat", 1)
    nine = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await db.schedules.claim(schedule.id, nine)
    assert not await db.schedules.claim(schedule.id, nine)  # a second wake-up, or a restart, for the same slot
    assert (await db.schedules.get(schedule.id)).last_slot == nine
    assert await db.schedules.claim(schedule.id, nine - timedelta(days=1))  # an older slot: claimed ...
    assert (await db.schedules.get(schedule.id)).last_slot == nine  # ... but the newest stays the newest
    job = await db.jobs.create("autopost", {}, 1, guild_id=7)
    await db.schedules.slot_job(schedule.id, nine, job.id)
    assert (await db.schedules.schedule_of_job(job.id)).id == schedule.id
    assert await db.schedules.schedule_of_job(999) is None
    paused = await db.schedules.update(schedule.id, enabled=False, paused_reason="channel deleted")
    assert (paused.enabled, paused.paused_reason) == (False, "channel deleted")

    await db.schedules.set_wildcard(7, "place", ["gym", "café"])
    await db.schedules.set_wildcard(8, "place", ["moon"])
    await db.schedules.set_wildcard(7, "place", ["beach"])  # replaced
    assert await db.schedules.wildcards(7) == {"place": ["beach"]}
    assert await db.schedules.wildcards(8) == {"place": ["moon"]}
    assert await db.schedules.delete_wildcard(7, "place") and await db.schedules.wildcards(7) == {}
    with pytest.raises(ValueError, match="not a slug"):
        await db.schedules.set_wildcard(7, "Bad Name", ["x"])


async def test_the_timezone_setting_must_be_an_iana_name(db: Database) -> None:
    assert (await db.guild_settings.update(7, timezone="Europe/Paris")).timezone == "Europe/Paris"
    with pytest.raises(ValueError, match="IANA time zone"):
        await db.guild_settings.update(7, timezone="Mars/Base")
    assert (await db.guild_settings.get(8)).autopost_min_minutes == 15


async def test_schedules_round_trip(db: Database) -> None:
    daily = await db.schedules.create("daily-cat", 7, 70, "0 9 * * *", "a cat", 1, model="tiny-sd", params={"count": 4})
    other = await db.schedules.create("weekly", 8, 80, "0 9 * * 1", "a dog", 2, enabled=False)
    assert (daily.params, daily.enabled, daily.last_run_at, daily.model) == ({"count": 4}, True, None, "tiny-sd")
    assert other.model is None
    assert await db.schedules.get(daily.id) == daily
    assert await db.schedules.get(999) is None
    assert [s.id for s in await db.schedules.list()] == [daily.id, other.id]
    assert [s.id for s in await db.schedules.list(guild_id=8)] == [other.id]
    assert [s.id for s in await db.schedules.list(enabled_only=True)] == [daily.id]
    with pytest.raises(DuplicateError):
        await db.schedules.create("daily-cat", 7, 71, "* * * * *", "x", 3)

    changed = await db.schedules.update(daily.id, cron="0 10 * * *", enabled=False, params={"count": 2})
    assert (changed.cron, changed.enabled, changed.params, changed.prompt) == (
        "0 10 * * *",
        False,
        {"count": 2},
        "a cat",
    )
    assert await db.schedules.update(daily.id) == changed
    with pytest.raises(ValueError, match="cannot update schedule field"):
        await db.schedules.update(daily.id, created_by=9)
    with pytest.raises(NotFoundError):
        await db.schedules.update(999, prompt="x")

    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    await db.schedules.mark_run(daily.id, at)
    assert (await db.schedules.get(daily.id)).last_run_at == at
    await db.schedules.mark_run(other.id)
    assert (await db.schedules.get(other.id)).last_run_at is not None
    with pytest.raises(NotFoundError):
        await db.schedules.mark_run(999)
    assert await db.schedules.delete(daily.id) is True
    assert await db.schedules.delete(daily.id) is False


# -- usage -------------------------------------------------------------------------------------


async def test_usage_counts_per_user_guild_and_utc_day(db: Database, clock: FakeClock) -> None:
    # The fake clock starts at 23:59 UTC on 1 March: the next minute is another day.
    assert await db.usage.images_on(1, 7) == 0
    assert await db.usage.add(1, 7, 4) == 4
    assert await db.usage.add(1, 7, 2) == 6
    assert await db.usage.add(1, None, 3) == 3
    assert await db.usage.add(2, 7, 1) == 1
    assert await db.usage.images_on(1, 7) == 6
    assert await db.usage.images_on(1, 7, date(2025, 3, 1)) == 6
    assert await db.usage.images_on(1, None) == 3
    assert await db.usage.add(1, 7, -10) == 0  # a refund never goes below zero
    assert await db.usage.add(1, 7, 5) == 5
    clock.advance(minutes=2)
    assert await db.usage.images_on(1, 7) == 0
    assert await db.usage.add(1, 7, 1, day=date(2025, 3, 5)) == 1
    assert await db.usage.images_on(1, 7, date(2025, 3, 1)) == 5
