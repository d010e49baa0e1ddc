"""The error funnel, /models, /queue, /settings and the development-guild sync."""

from __future__ import annotations

import logging

from bot.services.errors import Refused
from bot.ui.render import GENERIC_ERROR
from tests.bot.fakediscord import GUILD_ID, MANAGE_GUILD, USER_ID


def _reply(fake, ix):
    """The private answer an interaction ended with: a followup, or its original response."""
    return fake.messages[ix.followups[-1]] if ix.followups else fake.original(ix)


async def test_studio_error_becomes_a_private_reply(fake, bot, services) -> None:
    services.jobs.raise_next = Refused("You have 3 jobs waiting: wait for one to finish.")
    ix = fake.slash("generate", prompt="one more")
    await fake.wait_for(lambda: ix.followups)
    reply = _reply(fake, ix)
    assert reply["content"] == "You have 3 jobs waiting: wait for one to finish."
    assert reply["flags"] & 64
    assert ix.deleted_original  # the public "thinking…" did not stay behind
    assert fake.hanging() == []


async def test_error_with_user_message_attribute_is_shown(fake, bot, services) -> None:
    class QuotaError(Exception):
        user_message = "Daily quota reached."

    services.jobs.raise_next = QuotaError("internal detail")
    ix = fake.slash("generate", prompt="x")
    await fake.wait_for(lambda: ix.followups)
    assert _reply(fake, ix)["content"] == "Daily quota reached."


async def test_unexpected_error_is_logged_with_traceback_and_answered_generically(fake, bot, services, caplog) -> None:
    services.jobs.raise_next = RuntimeError("database is locked")
    with caplog.at_level(logging.ERROR, logger="bot.ui.feedback"):
        ix = fake.slash("generate", prompt="x")
        await fake.wait_for(lambda: ix.followups)
    assert _reply(fake, ix)["content"] == GENERIC_ERROR
    record = next(r for r in caplog.records if r.name == "bot.ui.feedback")
    assert record.exc_info is not None
    assert "database is locked" in str(record.exc_info[1])
    assert "database is locked" not in _reply(fake, ix)["content"]


async def test_models_lists_base_and_trained_models(fake, bot, services) -> None:
    ix = fake.slash("models")
    await fake.wait_for(lambda: ix.followups)
    embeds = [e for mid in ix.followups for e in fake.messages[mid]["embeds"]]
    titles = [e["title"] for e in embeds]
    assert titles[0].startswith("Base models")
    assert any(t.startswith("Trained models") for t in titles)
    names = [f["name"] for e in embeds for f in e["fields"]]
    assert len(names) == len(services.models.infos)
    text = " ".join(f["value"] for e in embeds for f in e["fields"])
    assert "VRAM" in text
    assert "trigger word: `trig3`" in text
    assert "defaults: 20 steps" in text
    assert all(fake.messages[mid]["flags"] & 64 for mid in ix.followups)


async def test_queue_shows_own_jobs_with_cancel_buttons(fake, bot, services) -> None:
    first = fake.slash("generate", prompt="mine")
    await fake.wait_for(lambda: "Queued" in fake.original(first)["content"])
    other = fake.slash("generate", prompt="theirs", user_id=USER_ID + 5)
    await fake.wait_for(lambda: "Queued" in fake.original(other)["content"])
    ix = fake.slash("queue")
    await fake.wait_for(lambda: ix.followups)
    listing = fake.messages[ix.followups[0]]
    fields = {f["name"]: f["value"] for f in listing["embeds"][0]["fields"]}
    assert "mine" in fields["Yours (1)"]
    assert "theirs" in fields["Waiting (2)"]
    ids = [c["custom_id"] for row in listing["components"] for c in row["components"]]
    assert ids == ["studio:qcancel:1"]
    click = fake.click("studio:qcancel:1", message=listing)
    await fake.wait_for(lambda: click.followups)
    assert fake.messages[click.followups[-1]]["content"] == "Cancelled job #1."
    assert services.jobs.jobs[1].status == "cancelled"
    assert services.jobs.jobs[2].status == "queued"
    assert fake.original(first)["content"] == "✖ Cancelled"


async def test_settings_needs_manage_server(fake, bot, services) -> None:
    refused = fake.slash("settings", name="max_count", value="8")
    await fake.wait_for(lambda: refused.callback_type)
    assert "Manage Server" in fake.original(refused)["content"]
    assert fake.original(refused)["flags"] & 64
    assert services.guild_settings.values.get(GUILD_ID, {}).get("max_count") != "8"


async def test_settings_show_and_update(fake, bot, services) -> None:
    shown = fake.slash("settings", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: shown.followups)
    fields = {f["name"]: f["value"] for f in fake.messages[shown.followups[0]]["embeds"][0]["fields"]}
    assert fields["max_count"].startswith("`4`")
    updated = fake.slash("settings", name="max_count", value="8", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: updated.followups)
    assert services.guild_settings.values[GUILD_ID]["max_count"] == "8"
    unknown = fake.slash("settings", name="colour", value="red", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: unknown.followups)
    assert fake.messages[unknown.followups[0]]["content"] == "There is no setting called colour."


async def test_settings_command_is_hidden_from_non_managers_when_synced(fake, make_bot) -> None:
    bot = await make_bot(STUDIO_DEV_GUILD_ID=GUILD_ID)
    assert bot.settings.dev_guild_id == GUILD_ID
    commands = {c["name"]: c for c in fake.synced[GUILD_ID]}
    assert set(commands) == {"generate", "models", "queue", "settings", "describe", "vary", "edit", "Describe"}
    assert int(commands["settings"]["default_member_permissions"]) == MANAGE_GUILD
    generate = {o["name"]: o for o in commands["generate"]["options"]}
    assert [c["value"] for c in generate["count"]["choices"]] == [1, 2, 4, 8]
    assert generate["model"]["autocomplete"] is True
    assert generate["seed"]["min_value"] == 0
    assert generate["steps"]["max_value"] == 150
