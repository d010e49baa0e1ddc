"""/autopost through discord.py's real code: the commands, a post in its channel, and pausing on Discord's errors.

A wake-up is `services.autopost.tick(id, now)` with `now` set from the schedule's own slots (the scheduler itself
only calls it: tests/studio/test_autopost_wakeups.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.ui.reactions import image_for_reaction
from studio.autopost.timing import Timing
from tests.bot.conftest import custom_ids, reply
from tests.bot.fakediscord import CHANNEL_ID, MANAGE_GUILD

POSTS = 720000000000000099  # the channel the schedule posts in (made from CHANNEL_ID)
DELETED = (404, 10003, "Unknown Channel")
FORBIDDEN = (403, 50013, "Missing Permissions")


async def _answer(fake, ix) -> dict:
    await fake.wait_for(lambda: ix.followups or ix.callback_type == 4)
    return reply(fake, ix)


async def _add(fake, **options) -> dict:
    values = {"channel": POSTS, "schedule": "every 1h", "prompt": "a {red|blue} cat", **options}
    return await _answer(fake, fake.slash("autopost add", permissions=MANAGE_GUILD, **values))


async def _slot(studio, schedule_id: int):
    schedule = await studio.services.db.schedules.get(schedule_id)
    return Timing(schedule.cron, "UTC").after(schedule.created_at, 1)[0]


def _in(fake, channel: int) -> list[dict]:
    return [m for m in fake.messages.values() if m["channel_id"] == str(channel)]


async def test_add_list_and_the_manage_server_check(fake, studio, bot) -> None:
    answer = await _add(fake, schedule="daily 09:00", count=2, lora_share=80, name="Morning cat")
    embed = answer["embeds"][0]
    assert embed["title"] == "Auto-post added: #1 Morning cat"
    assert "**At 09:00** (UTC)" in embed["description"] and f"<#{POSTS}>" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert len(fields["Next runs"].splitlines()) == 3 and all("09:00 UTC" in r for r in fields["Next runs"].split("\n"))
    assert "80 % of posts" in fields["Model"]

    refused = await _answer(fake, fake.slash("autopost add", channel=POSTS, schedule="every 1h", prompt="a dog"))
    assert "Manage Server" in refused["content"] and refused["flags"] & 64
    too_often = await _add(fake, schedule="every 5m", name="often")
    assert "at most every 15 minutes (setting autopost_min_minutes)" in too_often["content"]
    assert len(await studio.services.db.schedules.list()) == 1

    listed = await _answer(fake, fake.slash("autopost list"))  # anyone may look
    (field,) = listed["embeds"][0]["fields"]
    assert field["name"] == "#1 Morning cat" and "At 09:00 (UTC)" in field["value"] and "never run" in field["value"]

    zones = fake.autocomplete("autopost timezone", "tz", tz="europe/par")
    await fake.wait_for(lambda: zones.choices is not None)
    assert [c["value"] for c in zones.choices] == ["Europe/Paris"]
    ids = fake.autocomplete("autopost pause", "id", id="morn")
    await fake.wait_for(lambda: ids.choices is not None)
    assert [c["value"] for c in ids.choices] == [1]

    zone = await _answer(fake, fake.slash("autopost timezone", tz="Europe/Paris", permissions=MANAGE_GUILD))
    assert "Europe/Paris" in zone["content"]
    paused = await _answer(fake, fake.slash("autopost pause", id=1, permissions=MANAGE_GUILD))
    assert paused["embeds"][0]["title"].startswith("Auto-post paused")
    assert not (await studio.services.db.schedules.get(1)).enabled


async def test_a_wildcard_list_and_a_voice_channel_refused(fake, studio, bot) -> None:
    made = await _answer(
        fake, fake.slash("autopost wildcard", name="Places", values="gym, café, beach", permissions=MANAGE_GUILD)
    )
    assert "`__places__`" in made["content"] and "gym, café, beach" in made["content"]
    answer = await _add(fake, prompt="a cat at the __places__")
    assert answer["embeds"][0]["fields"][0]["value"] == "a cat at the __places__"
    unknown = await _add(fake, prompt="a cat at the __moods__", name="moods")
    assert "no such list" in unknown["content"] and "/autopost wildcard moods" in unknown["content"]


async def test_a_due_slot_posts_in_its_channel_once_with_buttons(fake, studio, bot) -> None:
    await _add(fake, count=2, caption="Today: {prompt}")
    slot = await _slot(studio, 1)
    job_id = await studio.services.autopost.tick(1, slot + timedelta(seconds=3))
    assert await studio.services.autopost.tick(1, slot + timedelta(seconds=4)) is None  # a second wake-up
    job = await studio.wait(job_id)
    assert job.status == "done" and job.origin == "schedule"
    (post,) = await fake.wait_for(lambda: [m for m in _in(fake, POSTS) if m["attachments"]])
    assert post["content"].startswith("Today: a ") and "<@" not in post["content"]  # nobody is mentioned
    assert {f"studio:u:{job_id}:1", f"studio:v:{job_id}:2:s", f"studio:reroll:{job_id}"} <= set(custom_ids(post))
    picked = await image_for_reaction(studio.services, int(post["id"]), "2️⃣")
    assert picked is not None and picked.job_id == job_id  # reactions pick from it as from any result


@pytest.mark.parametrize(("refusal", "reason"), [(DELETED, "was deleted"), (FORBIDDEN, "lost its permission")])
async def test_a_channel_that_refuses_posts_pauses_the_schedule(fake, studio, bot, refusal, reason) -> None:
    await _add(fake)
    fake.refusing[POSTS] = refusal
    ran = await _answer(fake, fake.slash("autopost run", id=1, permissions=MANAGE_GUILD))
    assert ran["content"].startswith(f"Posting **a-red-blue-cat** now in <#{POSTS}>")
    notices = await fake.wait_for(lambda: [m for m in _in(fake, CHANNEL_ID) if "is paused" in m["content"]])
    shown = await studio.services.db.schedules.get(1)
    assert not shown.enabled and reason in shown.paused_reason
    assert len(notices) == 1 and reason in notices[0]["content"] and "/autopost resume 1" in notices[0]["content"]
    # The next slot is not posted; resuming once the channel takes posts again works.
    slot = await _slot(studio, 1)
    assert await studio.services.autopost.tick(1, slot + timedelta(seconds=3)) is None
    del fake.refusing[POSTS]
    resumed = await _answer(fake, fake.slash("autopost resume", id=1, permissions=MANAGE_GUILD))
    assert resumed["embeds"][0]["title"].startswith("Auto-post resumed")
    assert len([m for m in _in(fake, CHANNEL_ID) if "is paused" in m["content"]]) == 1  # told once


async def test_a_schedule_whose_model_is_gone_is_announced_once_where_it_was_made(fake, studio, bot) -> None:
    db = studio.services.db
    await db.models.add("mila", "Mila", "lora", "sd15", "/loras/mila.safetensors", base_model="tiny-sd", config={})
    await _add(fake, model="mila")
    await db.models.set_active("mila", False)
    slot = await _slot(studio, 1)
    for late_s in (3, 3603):  # this slot and the next: paused at the first, and the server told once
        assert await studio.services.autopost.tick(1, slot + timedelta(seconds=late_s)) is None
    (notice,) = await fake.wait_for(lambda: [m for m in _in(fake, CHANNEL_ID) if "is paused" in m["content"]])
    assert notice["content"].startswith("The auto-post **a-red-blue-cat** (#1) is paused: its model is gone")
    assert notice["content"].endswith("Fix it, then `/autopost resume 1`.")
    assert _in(fake, POSTS) == []  # nothing was posted


async def test_a_post_on_tiny_sd_through_the_real_engine(fake, tiny_studio) -> None:
    await tiny_studio.open()
    await _add(fake, prompt="a small red cube", model="tiny-sd")
    slot = await _slot(tiny_studio, 1)
    job = await tiny_studio.wait(await tiny_studio.services.autopost.tick(1, slot + timedelta(seconds=1)))
    assert job.status == "done" and job.kind == "autopost"
    (post,) = await fake.wait_for(lambda: [m for m in _in(fake, POSTS) if m["attachments"]], within=30)
    assert post["attachments"][0]["filename"].endswith(".png")
    (image,) = await tiny_studio.services.db.images.for_job(job.id)
    assert (await image_for_reaction(tiny_studio.services, int(post["id"]), "⭐")).image_id == image.id
