"""The error funnel, /models, /queue, /settings and the development-guild sync, on the real services."""

from __future__ import annotations

import logging

from bot.ui.render import GENERIC_ERROR
from tests.bot.conftest import job_of, reply
from tests.bot.fakediscord import GUILD_ID, MANAGE_GUILD, USER_ID

FAST = {"steps": 2, "model": "tiny-sd"}


async def test_studio_error_becomes_a_private_reply(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="a cat", model="no-such-model")
    await fake.wait_for(lambda: ix.followups)
    answer = reply(fake, ix)
    assert answer["content"].startswith("Unknown model 'no-such-model'.")
    assert answer["flags"] & 64
    assert ix.deleted_original  # the public "thinking…" did not stay behind
    assert fake.hanging() == []


async def test_error_with_user_message_attribute_is_shown(fake, studio, bot, monkeypatch) -> None:
    # The real services raise only StudioError; this is the funnel's path for other libraries' errors.
    class QuotaError(Exception):
        user_message = "Daily quota reached."

    async def fail(*_args):
        raise QuotaError("internal detail")

    monkeypatch.setattr(studio.services.generate, "submit", fail)
    ix = fake.slash("generate", prompt="x")
    await fake.wait_for(lambda: ix.followups)
    assert reply(fake, ix)["content"] == "Daily quota reached."


async def test_unexpected_error_is_logged_with_traceback_and_answered_generically(
    fake, studio, bot, caplog, monkeypatch
) -> None:
    # A bug or an outage cannot be provoked on demand in the real service: play one.
    async def fail(*_args):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(studio.services.generate, "submit", fail)
    with caplog.at_level(logging.ERROR, logger="bot.ui.feedback"):
        ix = fake.slash("generate", prompt="x")
        await fake.wait_for(lambda: ix.followups)
    assert reply(fake, ix)["content"] == GENERIC_ERROR
    record = next(r for r in caplog.records if r.name == "bot.ui.feedback")
    assert record.exc_info is not None
    assert "database is locked" in str(record.exc_info[1])


async def test_models_lists_base_and_trained_models(fake, studio, bot) -> None:
    await studio.services.db.models.add(
        "my-cat", "My Cat", "lora", "sd15", "/loras/my-cat.safetensors", base_model="tiny-sd", trigger_word="mycat"
    )
    ix = fake.slash("models")
    await fake.wait_for(lambda: ix.followups)
    embeds = [e for mid in ix.followups for e in fake.messages[mid]["embeds"]]
    titles = [e["title"] for e in embeds]
    assert titles[0].startswith("Base models")
    assert any(t.startswith("Trained models") for t in titles)
    names = [f["name"] for e in embeds for f in e["fields"]]
    assert len(names) == len(await studio.services.models.catalog())
    text = " ".join(f["value"] for e in embeds for f in e["fields"])
    assert "`tiny-sd`" in text
    assert "trigger word: `mycat`" in text
    assert "on `tiny-sd`" in text
    assert "licence: FLUX.1 [dev] Non-Commercial License" in text and "licence: Apache-2.0" in text
    # the FLUX.1 memory plan's thresholds
    assert "memory: bf16 from ~" in text and "int8/fp8 from ~" in text and "nf4 from ~" in text
    # SD 1.5's own setting, described from the family's declaration
    assert "own settings (`settings:` of /generate): clip_skip (a whole number from 1 to 4)" in text
    assert all(fake.messages[mid]["flags"] & 64 for mid in ix.followups)


async def test_queue_shows_own_jobs_with_cancel_buttons(fake, studio, make_bot) -> None:
    await make_bot(start=False)  # nothing runs, so both jobs are still waiting when /queue looks
    first = fake.slash("generate", prompt="mine", **FAST)
    mine = await job_of(fake, first)
    other = fake.slash("generate", prompt="theirs", user_id=USER_ID + 5, **FAST)
    theirs = await job_of(fake, other)
    ix = fake.slash("queue")
    await fake.wait_for(lambda: ix.followups)
    listing = fake.messages[ix.followups[0]]
    assert listing["flags"] & 64
    fields = {f["name"]: f["value"] for f in listing["embeds"][0]["fields"]}
    assert "mine" in fields["Yours (1)"]
    assert "theirs" in fields["Waiting (2)"]
    ids = [c["custom_id"] for row in listing["components"] for c in row["components"]]
    assert ids == [f"studio:qcancel:{mine}"]
    click = fake.click(f"studio:qcancel:{mine}", message=listing)
    await fake.wait_for(lambda: click.followups)
    assert fake.messages[click.followups[-1]]["content"] == f"Cancelled job #{mine}."
    assert (await studio.services.db.jobs.get(mine)).status == "cancelled"
    assert (await studio.services.db.jobs.get(theirs)).status == "queued"
    assert fake.original(first)["content"] == "✖ Cancelled"


async def test_settings_needs_manage_server(fake, studio, bot) -> None:
    refused = fake.slash("settings", name="max_count", value="2")
    await fake.wait_for(lambda: refused.callback_type)
    assert "Manage Server" in fake.original(refused)["content"]
    assert fake.original(refused)["flags"] & 64
    assert (await studio.services.db.guild_settings.get(GUILD_ID)).max_count == 8


async def test_settings_show_and_update(fake, studio, bot) -> None:
    shown = fake.slash("settings", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: shown.followups)
    fields = {f["name"]: f["value"] for f in fake.messages[shown.followups[0]]["embeds"][0]["fields"]}
    assert fields["max_count"].startswith("`8`")
    await studio.settings("max_count", "2")
    assert (await studio.services.db.guild_settings.get(GUILD_ID)).max_count == 2
    unknown = fake.slash("settings", name="colour", value="red", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: unknown.followups)
    assert fake.messages[unknown.followups[0]]["content"].startswith("Unknown setting 'colour'.")
    bad = fake.slash("settings", name="max_count", value="many", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: bad.followups)
    assert fake.messages[bad.followups[0]]["content"] == "max_count takes a whole number."


async def test_settings_command_is_hidden_from_non_managers_when_synced(fake, make_bot) -> None:
    bot = await make_bot(STUDIO_DEV_GUILD_ID=GUILD_ID)
    assert bot.settings.dev_guild_id == GUILD_ID
    commands = {c["name"]: c for c in fake.synced[GUILD_ID]}
    assert set(commands) == {
        "generate",
        "models",
        "queue",
        "settings",
        "describe",
        "vary",
        "edit",
        "Describe",
        "trainset",
        "charactersheet",
        "train",
        "autopost",
    }
    assert {o["name"] for o in commands["autopost"]["options"]} == {
        "add", "list", "remove", "pause", "resume", "run", "timezone", "wildcard",
    }  # fmt: skip
    assert int(commands["autopost"]["default_member_permissions"]) == MANAGE_GUILD
    assert {o["name"] for o in commands["train"]["options"]} == {"start", "status", "cancel", "list"}
    start = next(o for o in commands["train"]["options"] if o["name"] == "start")
    assert [o["name"] for o in start["options"]][:2] == ["output_name", "set"]
    subcommands = {o["name"] for o in commands["trainset"]["options"]}
    assert subcommands == {
        "create",
        "use",
        "list",
        "show",
        "check",
        "add",
        "remove",
        "caption",
        "lock",
        "unlock",
        "delete",
    }
    assert int(commands["settings"]["default_member_permissions"]) == MANAGE_GUILD
    generate = {o["name"]: o for o in commands["generate"]["options"]}
    assert [c["value"] for c in generate["count"]["choices"]] == [1, 2, 4, 8]
    assert generate["model"]["autocomplete"] is True
    assert generate["seed"]["min_value"] == 0
    assert generate["steps"]["max_value"] == 150


async def test_queue_hides_the_prompts_of_other_servers_and_dms(fake, studio, make_bot) -> None:
    await make_bot(start=False)
    jobs = studio.services.db.jobs
    await jobs.create("generate", {"prompt": "secret elsewhere", "count": 1}, USER_ID + 7, guild_id=GUILD_ID + 1)
    await jobs.create("generate", {"prompt": "a private dm prompt", "count": 1}, USER_ID + 8, guild_id=None)
    here = await job_of(fake, fake.slash("generate", prompt="a shared cat", user_id=USER_ID + 9, **FAST))
    ix = fake.slash("queue")
    await fake.wait_for(lambda: ix.followups)
    waiting = {f["name"]: f["value"] for f in fake.messages[ix.followups[0]]["embeds"][0]["fields"]}["Waiting (3)"]
    assert "a shared cat" in waiting and f"`{here}`" in waiting  # this server's queue stays visible
    assert "secret elsewhere" not in waiting
    assert "a private dm prompt" not in waiting
    assert waiting.count("(elsewhere)") == 2
