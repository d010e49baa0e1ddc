"""/charactersheet: groups posted as results through the queue, reaction picking on them, Quick select."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio.errors import StudioError
from studio.trainsets.sheet import FULL_SHEET, GROUPS, plan_sheet
from tests.bot.conftest import custom_ids, edits
from tests.bot.fakediscord import GUILD_ID, USER_ID

OTHER = USER_ID + 1


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 128), (180, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_sheet_follows_the_reference_workflow() -> None:
    assert FULL_SHEET == 30
    assert [(name, len(panels)) for name, _, panels in plan_sheet(30)] == [
        ("face angles", 8),
        ("expressions", 6),
        ("body poses", 8),
        ("contexts", 8),
    ]
    assert [len(panels) for _, _, panels in plan_sheet(4)] == [1, 1, 1, 1]
    assert [len(panels) for _, _, panels in plan_sheet(10)] == [3, 3, 2, 2]
    assert plan_sheet(4)[3][2] == ("in a gym",)
    assert {strength for _, strength, _ in GROUPS} <= {0.45, 0.55, 0.65}  # low enough to keep the face
    for count in (3, 31):
        with pytest.raises(StudioError, match="4 to 30 images"):
            plan_sheet(count)


async def test_a_sheet_posts_its_groups_and_quick_select_fills_the_set(fake, studio, bot) -> None:
    fake.slash("trainset create", name="hero", trigger_word="hero")
    ix = fake.slash("charactersheet", image=fake.attachment(_png()), count=8, set="hero")
    await fake.wait_for(lambda: ix.followups)
    plan = fake.messages[ix.followups[0]]
    assert plan["flags"] & 64 and plan["content"].startswith(
        "Character sheet: 8 images in 4 groups (face angles 2, expressions 2, body poses 2, contexts 2), about "
    )
    assert "Method: image-to-image from the reference." in plan["content"]
    jobs = sorted(j.id for j in await studio.services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet")
    assert len(jobs) == 4
    for job_id in jobs:
        assert (await studio.wait(job_id)).status == "done"
    # The first group on the command's own response, the others as channel messages.
    first = fake.original(ix)
    assert first["content"].startswith("Character sheet · face angles (2) · image-to-image from the reference")
    assert any(
        c.startswith("🎨 Drawing a character sheet: step") for c in [e.get("content") or "" for e in edits(fake, ix)]
    )
    groups = [first, *fake.channel_messages()]
    assert [m["embeds"][0]["title"] for m in groups] == [f"Job #{j}" for j in jobs]
    images = await studio.services.db.images.for_job(jobs[3])
    assert [i.prompt for i in images] == ["a cat, in a gym", "a cat, in a café"]  # the reference's caption + panel
    assert {i.params["mode"] for i in images} == {"img2img"} and {i.params["strength"] for i in images} == {0.65}
    assert f"studio:qs:{jobs[3]}" in custom_ids(groups[3])
    assert not any(i.startswith("studio:qs:") for m in groups[:3] for i in custom_ids(m))

    # Reactions pick from any group; Quick select adds the whole (small) sheet, without doubles.
    fake.react(groups[1], "2️⃣")
    for _ in range(300):
        found = await studio.services.db.training_sets.get_by_name(GUILD_ID, "hero")
        if len(await studio.services.db.training_sets.items(found.id)) == 1:
            break
        await __import__("asyncio").sleep(0.01)
    click = fake.click(f"studio:qs:{jobs[3]}", message=groups[3])
    await fake.wait_for(lambda: click.followups)
    assert fake.messages[click.followups[0]]["content"].startswith(
        "Added 7 of the sheet's 8 image(s) to **hero** (1 were in it already, or it is full)."
    )
    items = await studio.services.db.training_sets.items(found.id)
    assert len(items) == 8 and [i.source for i in items].count("sheet") == 7

    # A reroll of a group draws the same panels again with a new seed; V on a panel keeps that panel's prompt.
    reroll = fake.click(f"studio:reroll:{jobs[1]}", message=groups[1], user_id=OTHER)
    rerolled = await studio.wait(await _job_of_click(fake, reroll))
    assert rerolled.kind == "sheet" and rerolled.request["panels"] == ["smiling", "laughing"]
    assert rerolled.request["seed"] != (await studio.services.db.jobs.get(jobs[1])).request["seed"]
    vary = fake.click(f"studio:v:{jobs[2]}:2:s", message=groups[2])
    varied = await studio.wait(await _job_of_click(fake, vary))
    assert varied.request["prompt"] == "a cat, sitting on a chair"


async def _job_of_click(fake, click) -> int:
    first = await fake.wait_for(lambda: edits(fake, click))
    (cancel,) = custom_ids(first[0])
    return int(cancel.rsplit(":", 1)[1])


async def test_groups_follow_the_servers_images_per_job(fake, studio, bot) -> None:
    await studio.settings("max_count", "4")
    await studio.settings("max_concurrent_per_user", "20")
    ix = fake.slash("charactersheet", image=fake.attachment(_png()))
    await fake.wait_for(lambda: ix.followups)
    jobs = [j for j in await studio.services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet"]
    assert sorted(len(j.request["panels"]) for j in jobs) == [2, 4, 4, 4, 4, 4, 4, 4]  # 8 → 4 + 4, 6 → 4 + 2
    assert sum(len(j.request["panels"]) for j in jobs) == 30


async def test_a_sheet_is_weighed_against_the_daily_quota_at_once(fake, studio, bot) -> None:
    await studio.settings("daily_quota", "20")
    ix = fake.slash("charactersheet", image=fake.attachment(_png()), count=30)
    await fake.wait_for(lambda: ix.followups)
    answer = fake.messages[ix.followups[0]]
    assert "Daily quota reached" in answer["content"] and answer["flags"] & 64
    assert [j for j in await studio.services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet"] == []


async def test_two_sheets_at_once_are_weighed_together(fake, studio, bot) -> None:
    import asyncio

    from studio.contract import Caller
    from studio.errors import Refused

    await studio.settings("max_concurrent_per_user", "1")
    caller = Caller(user_id=USER_ID, guild_id=GUILD_ID, channel_id=720000000000000001)
    sheets = studio.services.sheets
    await studio.services.jobs.stop()  # nothing runs: both sheets would wait in the queue
    results = await asyncio.gather(
        sheets.start(caller, _png(), 8), sheets.start(caller, _png(), 8), return_exceptions=True
    )
    assert sum(isinstance(r, Refused) for r in results) == 1
    jobs = [j for j in await studio.services.db.jobs.list_for_user(USER_ID, 50) if j.kind == "sheet"]
    assert len(jobs) == 4  # one sheet of four groups, queued as one request


async def test_a_remix_of_a_group_draws_it_from_the_new_words(fake, studio, bot) -> None:
    ix = fake.slash("charactersheet", image=fake.attachment(_png()), count=4)
    await fake.wait_for(lambda: ix.followups)
    jobs = sorted(j.id for j in await studio.services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet")
    for job_id in jobs:
        await studio.wait(job_id)
    assert await studio.services.followups.remix_prompt(jobs[0]) == "a cat"  # the reference's caption
    from studio.contract import Caller

    caller = Caller(user_id=USER_ID, guild_id=GUILD_ID, channel_id=720000000000000001)
    ticket = await studio.services.followups.remix(caller, jobs[0], "a red dragon with green eyes")
    remixed = await studio.wait(ticket.job_id)
    (image,) = await studio.services.db.images.for_job(remixed.id)
    assert image.prompt == "a red dragon with green eyes, front view portrait"
