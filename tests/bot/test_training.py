"""/train through discord.py's real command tree, buttons, select, modal and gateway events, on the tiny engine."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from tests.bot.conftest import custom_ids, reply
from tests.bot.fakediscord import MANAGE_GUILD, USER_ID
from tests.engine.training_support import planted_images

pytestmark = pytest.mark.slow

OTHER = USER_ID + 1


async def _set(studio, tmp_path, guild_id: int) -> None:
    from studio.contract import Caller

    services = studio.services
    await services.db.guild_settings.update(guild_id, min_training_images=4)
    owner = Caller(user_id=USER_ID, guild_id=guild_id, channel_id=1, may_manage_server=True)
    await services.trainsets.create(owner, "mila", trigger_word="zzmila")
    for item in planted_images(tmp_path / "set", 4):
        buffer = io.BytesIO()
        Image.open(item.path).save(buffer, format="PNG")
        await services.trainsets.add(owner, buffer.getvalue(), "mila")


async def _answer(fake, ix) -> dict:
    await fake.wait_for(lambda: ix.followups or (ix.original_id and fake.original(ix)["flags"] & 128 == 0), within=60)
    return reply(fake, ix)


async def test_plan_start_progress_result_votes_checkpoint_try_and_download(fake, tiny_studio, tmp_path) -> None:
    from tests.bot.fakediscord import GUILD_ID

    studio = tiny_studio
    await studio.open()
    await _set(studio, tmp_path, GUILD_ID)

    refused = await _answer(fake, fake.slash("train start", output_name="mila", set_name="mila", steps=4))
    assert "needs Manage Server" in refused["content"]

    ix = fake.slash("train start", output_name="Mila", set_name="mila", steps=4, permissions=MANAGE_GUILD)
    plan = await _answer(fake, ix)
    assert plan["flags"] & 64  # only the member sees the plan
    embed = plan["embeds"][0]
    assert embed["title"] == "Train Mila on tiny-sd"  # as typed
    settings = embed["fields"][0]["value"]
    assert "Steps: **4** · _you_" in settings and "Batch size: **4** · _model preset_" in settings
    run_id = int(custom_ids(plan)[0].rsplit(":", 1)[1])
    assert custom_ids(plan) == [f"studio:trgo:{run_id}", f"studio:trno:{run_id}"]

    start = fake.click(f"studio:trgo:{run_id}", message=plan, permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: start.original_id and fake.original(start)["embeds"], within=120)
    card = fake.original(start)
    assert card["embeds"][0]["title"] == "🎨 Mila is ready"
    # On its way, the status message showed the loss, the newest checkpoint's score and its sample grid.
    statuses = [r for r in fake.requests if r.method == "PATCH" and start.token in r.path]
    last = next(
        r for r in reversed(statuses) if ((r.json or {}).get("content") or "").startswith("🎨 Training: step 4 of 4")
    )
    assert "loss " in last.json["content"] and "consistency " in last.json["content"]
    job_id = int(custom_ids(last.json)[0].rsplit(":", 1)[1])
    uploads = [name for r in statuses for name, _size in r.files]
    assert uploads.count(f"job{job_id}_progress.png") >= 1
    assert [a["filename"] for a in card["attachments"]] == [f"run{run_id}_scales.png", f"run{run_id}_loss.png"]
    assert custom_ids(card) == [f"studio:trtry:{run_id}", f"studio:trdl:{run_id}", f"studio:trck:{run_id}"]
    assert "4. step 4: loss" in card["embeds"][0]["fields"][0]["value"]

    # Each checkpoint's grid is a message of its own: a 👍 on it is a vote.
    def checkpoint_posts():
        found = [m for m in fake.channel_messages() if "checkpoint" in (m["content"] or "")]
        return found if len(found) == 4 else None

    posts = await fake.wait_for(checkpoint_posts)
    for number, post in enumerate(posts, start=1):
        assert f"**Mila**, checkpoint {number} of 4 (step {number}): consistency" in post["content"]
    assert all(p["attachments"] for p in posts)

    async def votes():
        return [c.votes for c in await studio.services.db.training_runs.checkpoints(run_id)]

    async def settled(expected):
        for _ in range(500):
            if await votes() == expected:
                return
            await asyncio.sleep(0.01)
        assert await votes() == expected

    async def message_ids():
        return {c.message_id for c in await studio.services.db.training_runs.checkpoints(run_id)}

    for _ in range(500):  # the posts' ids are stored once all four are out
        if None not in await message_ids():
            break
        await asyncio.sleep(0.01)
    assert await message_ids() == {int(p["id"]) for p in posts}
    fake.react(posts[1], "👍", user_id=OTHER)
    fake.react(posts[1], "👍")
    fake.react(posts[2], "🔥")  # not a vote
    await settled([0, 2, 0, 0])
    fake.react(posts[1], "👍", user_id=OTHER, add=False)
    await settled([0, 1, 0, 0])

    # The select switches the model to checkpoint 2: the card says so.
    picked = fake.select(f"studio:trck:{run_id}", ["2"], message=card, user_id=USER_ID)
    await fake.wait_for(lambda: picked.followups)
    assert "now uses the checkpoint of step 2" in fake.messages[picked.followups[-1]]["content"]
    assert (await studio.services.db.models.get("mila")).config["step"] == 2
    refused = fake.select(f"studio:trck:{run_id}", ["3"], message=card, user_id=OTHER)
    assert "Only the member who started" in (await _answer(fake, refused))["content"]

    # Try it: a prompt modal whose submit is a /generate with the new model.
    opened = fake.click(f"studio:trtry:{run_id}", message=card)
    await fake.wait_for(lambda: opened.callback_type == 9)
    submitted = fake.submit_modal(opened, {"Prompt (the trigger word is added)": "in a garden"})
    await fake.wait_for(lambda: submitted.original_id and custom_ids(fake.original(submitted)))
    job_id = int(custom_ids(fake.original(submitted))[0].rsplit(":", 1)[1])
    job = await studio.wait(job_id)
    assert job.status == "done" and job.request["chosen"] == "mila"
    assert job.request["full_prompt"] == "zzmila, in a garden"

    # Download: the kohya file, attached privately.
    download = fake.click(f"studio:trdl:{run_id}", message=card)
    got = await _answer(fake, download)
    assert got["attachments"][0]["filename"] == "mila_kohya.safetensors" and got["flags"] & 64

    listing = await _answer(fake, fake.slash("train list"))
    assert f"#{run_id} Mila** (done)" in listing["embeds"][0]["description"]
    assert "→ **Mila** (step 2)" in listing["embeds"][0]["description"]
    status = await _answer(fake, fake.slash("train status"))
    assert status["embeds"][0]["description"].startswith("Nothing is training here")


async def test_a_plan_can_be_dropped_and_the_picker_offers_sets(fake, tiny_studio, tmp_path) -> None:
    from tests.bot.fakediscord import GUILD_ID

    studio = tiny_studio
    await studio.open()
    await _set(studio, tmp_path, GUILD_ID)
    choices = fake.autocomplete("train start", "set_name", set_name="mi", output_name="x")
    await fake.wait_for(lambda: choices.choices is not None)
    assert [c["value"] for c in choices.choices] == ["mila"]
    plan = await _answer(fake, fake.slash("train start", output_name="x", set_name="mila", permissions=MANAGE_GUILD))
    run_id = int(custom_ids(plan)[1].rsplit(":", 1)[1])
    fake.click(f"studio:trno:{run_id}", message=plan, permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: fake.messages[int(plan["id"])]["content"])
    after = fake.messages[int(plan["id"])]  # the plan itself, edited: no buttons left to start it
    assert after["content"] == "Plan cancelled; nothing was trained." and after["components"] == []
    assert (await studio.services.db.training_runs.get(run_id)).status == "dropped"
