"""/trainset and reaction picking through discord.py's real command tree, gateway events and the real services."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.bot.conftest import job_of, reply
from tests.bot.fakediscord import MANAGE_GUILD, USER_ID

FAST = {"steps": 2, "model": "tiny-sd"}
OTHER = USER_ID + 1
THIRD = USER_ID + 2


def _png(colour: tuple[int, int, int] = (30, 140, 200), size: tuple[int, int] = (96, 96)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


async def _command(fake, command: str, /, **values) -> dict:
    ix = fake.slash(command, **values)
    await fake.wait_for(
        lambda: ix.followups or (ix.original_id and (fake.original(ix)["content"] or fake.original(ix)["embeds"]))
    )
    return reply(fake, ix)


async def _grid(fake, studio, count: int = 4) -> tuple[int, dict]:
    ix = fake.slash("generate", prompt="a cat", count=count, **FAST)
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done"
    return job.id, fake.original(ix)


@pytest.fixture
def guild_id() -> int:
    from tests.bot.fakediscord import GUILD_ID

    return GUILD_ID


async def _set_items(studio, guild_id: int, name: str = "my char!"):
    found = await studio.services.db.training_sets.get_by_name(guild_id, name)
    assert found is not None
    return found, await studio.services.db.training_sets.items(found.id)


async def _wait_items(fake, studio, guild_id: int, count: int, name: str = "my char!"):
    async def enough():
        _found, items = await _set_items(studio, guild_id, name)
        return items if len(items) == count else None

    for _ in range(300):
        items = await enough()
        if items is not None:
            return items
        await fake_sleep()
    _found, items = await _set_items(studio, guild_id, name)
    raise AssertionError(f"expected {count} item(s), have {len(items)}")


async def fake_sleep() -> None:
    import asyncio

    await asyncio.sleep(0.01)


async def _captioned(studio, guild_id: int, name: str = "my char!"):
    for _ in range(300):
        _found, items = await _set_items(studio, guild_id, name)
        if items and all(i.caption for i in items):
            return items
        await fake_sleep()
    raise AssertionError("captions never arrived")


async def test_create_react_show_caption_remove_and_delete(fake, studio, bot, guild_id) -> None:
    created = await _command(fake, "trainset create", name="My Char!", trigger_word="mychar")
    assert created["content"].startswith("Created **My Char!** (✅ active)") and created["flags"] & 64
    job_id, grid = await _grid(fake, studio)
    images = await studio.services.db.images.for_job(job_id)

    fake.react(grid, "2️⃣")
    (item,) = await _wait_items(fake, studio, guild_id, 1)
    assert (item.image_id, item.source, item.added_by) == (images[1].id, "reaction", USER_ID)  # picked by its id
    assert item.path != images[1].path and item.path.read_bytes() == images[1].path.read_bytes()  # the set's copy
    assert item.path.parent == studio.services.trainsets.folder(item.set_id)
    (item,) = await _captioned(studio, guild_id)
    assert item.caption == "mychar, a photo of a cat"

    fake.react(grid, "⭐")  # a star on a grid picks nothing
    fake.react(grid, "4️⃣", user_id=OTHER)  # a member with no active set adds nothing
    fake.react(grid, "🔥")
    click = fake.click(f"studio:u:{job_id}:3", message=grid)  # U3: image 3 alone; a star picks it
    await fake.wait_for(lambda: fake.original(click)["attachments"])
    fake.react(fake.original(click), "⭐")
    items = await _wait_items(fake, studio, guild_id, 2)
    assert [i.image_id for i in items] == [images[1].id, images[2].id]

    shown = await _command(fake, "trainset show")
    embed = shown["embeds"][0]
    assert embed["title"] == "Training set My Char!"
    assert embed["image"]["url"] == "attachment://my-char-5871bc_sheet.png"
    assert [a["filename"] for a in shown["attachments"]] == ["my-char-5871bc_sheet.png"]  # a safe file name
    listing = embed["fields"][0]["value"]
    assert listing.count(f"<@{USER_ID}>") == 2 and "`1` mychar, a photo of a cat" in listing
    check = embed["fields"][1]["value"]
    assert check.startswith("⚠️ 2 image(s): not ready, add 18 more image(s)")

    fixed = await _command(fake, "trainset caption", number=1, text="mychar smiling, studio light")
    assert "mychar smiling, studio light" in fixed["content"]
    refused = await _command(fake, "trainset remove", number=2, name="MY CHAR!", user_id=OTHER)
    assert "Only the member who added image 2" in refused["content"]

    fake.react(grid, "2️⃣", user_id=OTHER, add=False)  # another member's removal takes back nothing
    fake.react(grid, "2️⃣", add=False)  # the member who added it takes it back
    items = await _wait_items(fake, studio, guild_id, 1)
    assert items[0].image_id == images[2].id
    removed = await _command(fake, "trainset remove", number=1)
    assert removed["content"].startswith("Removed image 1")
    await _wait_items(fake, studio, guild_id, 0)

    refused = await _command(fake, "trainset delete", name="MY CHAR!", user_id=OTHER)
    assert "Only the set's owner" in refused["content"]
    asked = await _command(fake, "trainset delete", name="MY CHAR!")
    assert asked["content"].startswith("Delete **My Char!**")
    found, _ = await _set_items(studio, guild_id)
    confirm = fake.click(f"studio:tsdel:{found.id}")
    await fake.wait_for(lambda: "Deleted" in (fake.messages[int(asked["id"])]["content"] or ""))
    assert await studio.services.db.training_sets.get(found.id) is None
    assert not any(studio.services.trainsets.folder(found.id).glob("*.png"))
    assert confirm.callback_type is not None


async def test_reactions_work_on_results_posted_before_a_restart(fake, studio, bot, guild_id) -> None:
    job_id, grid = await _grid(fake, studio, count=2)
    await _command(fake, "trainset create", name="later")
    await studio.open()  # a new bot and new services: only SQLite remembers the grid
    fake.react(grid, "1️⃣")
    items = await _wait_items(fake, studio, guild_id, 1, "later")
    assert items[0].image_id == (await studio.services.db.images.for_job(job_id))[0].id
    user_post = fake._new_message(
        720000000000000001, {"content": "my own picture"}, [], author={"id": str(OTHER), "username": "x"}
    )
    fake.react(user_post, "⭐")  # a message that is not one of the bot's results
    fake.react(grid, "2️⃣", user_id=THIRD)  # no active set
    await fake_sleep()
    assert len(await _wait_items(fake, studio, guild_id, 1, "later")) == 1


async def test_uses_lists_locks_and_uploads(fake, studio, bot, guild_id) -> None:
    await _command(fake, "trainset create", name="alpha")
    await _command(fake, "trainset create", name="beta", user_id=OTHER)
    used = await _command(fake, "trainset use", name="beta")
    assert used["content"].startswith("Your reactions now feed **beta** (✅ active)")
    listed = await _command(fake, "trainset list")
    lines = listed["embeds"][0]["description"].splitlines()
    assert lines == [
        f"**alpha** · 0 image(s) · <@{USER_ID}>",
        f"**beta** · 0 image(s) · <@{OTHER}> (✅ active)",
    ]
    duplicate = await _command(fake, "trainset create", name="Beta")
    assert "already exists" in duplicate["content"]

    added = await _command(fake, "trainset add", image=fake.attachment(_png()))
    assert added["content"].startswith("Added as image 1")
    again = await _command(fake, "trainset add", image=fake.attachment(_png()))
    assert "already in the set" in again["content"]
    refused = await _command(fake, "trainset lock", name="beta")
    assert "Only the set's owner" in refused["content"]
    locked = await _command(fake, "trainset lock", name="beta", user_id=OTHER)
    assert "🔒 locked" in locked["content"]
    refused = await _command(fake, "trainset add", image=fake.attachment(_png((200, 10, 10))))
    assert "is locked" in refused["content"]
    await _command(fake, "trainset unlock", name="beta", permissions=MANAGE_GUILD)  # a manager may too
    await studio.settings("training_uploads", "false")
    refused = await _command(fake, "trainset add", image=fake.attachment(_png((200, 10, 10))))
    assert "take only images made here" in refused["content"]
    bad = await _command(fake, "trainset add", name="alpha", image=fake.attachment(b"not an image", "x.png"))
    assert bad["flags"] & 64


async def test_the_minimum_of_images_is_a_server_setting(fake, studio, bot, guild_id) -> None:
    await _command(fake, "trainset create", name="small")
    await studio.settings("min_training_images", "2")
    for colour in ((10, 200, 10), (200, 200, 10)):
        await _command(fake, "trainset add", image=fake.attachment(_png(colour)))
        await fake_sleep()
    checked = await _command(fake, "trainset check")
    assert checked["content"].startswith("✅ 2 image(s)")
    await studio.settings("min_training_images", "3")
    checked = await _command(fake, "trainset check")
    assert "not ready, add 1 more image(s): training needs at least 3 (20–30 work best)" in checked["content"]


async def test_without_a_server_or_an_active_set_the_answer_says_what_to_do(fake, studio, bot) -> None:
    shown = await _command(fake, "trainset show")
    assert "no active training set" in shown["content"] and "/trainset create" in shown["content"]
    missing = await _command(fake, "trainset use", name="nope")
    assert "no training set named 'nope'" in missing["content"]


@pytest.mark.slow
async def test_on_the_real_engine_a_grid_a_reaction_a_caption_a_check_and_a_sheet(fake, tiny_studio, guild_id) -> None:
    """tiny-sd, the tiny captioner and the real checks (no CLIP weights here: the outlier check is skipped)."""
    studio = tiny_studio
    await studio.open()
    await _command(fake, "trainset create", name="real", trigger_word="realchar")
    _job_id, grid = await _grid(fake, studio, count=2)
    fake.react(grid, "2️⃣")
    items = await _captioned(studio, guild_id, "real")
    assert len(items) == 1 and items[0].caption.startswith("realchar, ")
    checked = await _command(fake, "trainset check")
    assert checked["content"].startswith("⚠️ 1 image(s): not ready, add 19 more image(s)")
    sheet = fake.slash("charactersheet", image=fake.attachment(_png()), count=4)
    await fake.wait_for(lambda: sheet.followups, within=30)
    jobs = sorted(j.id for j in await studio.services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet")
    for sheet_job in jobs:
        assert (await studio.wait(sheet_job)).status == "done"
    last = fake.channel_messages()[-1]
    click = fake.click(f"studio:qs:{jobs[-1]}", message=last)
    await fake.wait_for(lambda: click.followups, within=30)
    assert "Added 4 of the sheet's 4 image(s) to **real**" in fake.messages[click.followups[0]]["content"]
    await _captioned(studio, guild_id, "real")
