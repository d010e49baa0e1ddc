"""/generate through discord.py's real command tree, and the delivery port's messages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.services.api import GenerateInput
from tests.bot.fakediscord import CHANNEL_ID, GUILD_ID, MANAGE_GUILD, MANAGE_MESSAGES, USER_ID


async def test_every_option_reaches_the_service(fake, bot, services) -> None:
    ix = fake.slash(
        "generate",
        prompt="a red fox",
        count=8,
        model="model-03",
        negative="blurry",
        aspect="16:9",
        seed=77,
        steps=12,
        guidance=6.5,
        lora_scale=0.7,
        permissions=MANAGE_MESSAGES,
        roles=(11, 22),
    )
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    name, caller, (options,) = services.jobs.calls[0]
    assert name == "submit_generate"
    assert options == GenerateInput("a red fox", 8, "model-03", "blurry", "16:9", 77, 12, 6.5, 0.7)
    assert (caller.user_id, caller.guild_id, caller.channel_id) == (USER_ID, GUILD_ID, CHANNEL_ID)
    assert caller.role_ids == (11, 22)
    assert caller.is_moderator
    assert not caller.is_manager
    assert ix.callback_type == 5
    assert ix.callback_at - ix.dispatched_at < 3
    custom_ids = [c["custom_id"] for row in fake.original(ix)["components"] for c in row["components"]]
    assert custom_ids == ["studio:cancel:1"]


async def test_defaults_are_left_to_the_service(fake, bot, services) -> None:
    fake.slash("generate", prompt="just a prompt", permissions=MANAGE_GUILD)
    await fake.wait_for(lambda: services.jobs.calls)
    _, caller, (options,) = services.jobs.calls[0]
    assert options == GenerateInput("just a prompt")
    assert caller.is_manager
    assert caller.is_moderator


async def test_count_outside_the_choices_never_reaches_the_service(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="x", count=3, validate=False)
    await fake.wait_for(lambda: ix.callback_type is not None)
    assert services.jobs.calls == []
    reply = fake.original(ix)
    assert reply["flags"] & 64
    assert "not a valid value" in reply["content"]


async def test_autocomplete_caps_at_25_and_narrows(fake, bot, services) -> None:
    assert len(services.models.infos) > 25
    everything = fake.autocomplete("generate", "model", prompt="p", model="")
    await fake.wait_for(lambda: everything.choices is not None)
    assert len(everything.choices) == 25
    narrowed = fake.autocomplete("generate", "model", prompt="p", model="model-1")
    await fake.wait_for(lambda: narrowed.choices is not None)
    assert [c["value"] for c in narrowed.choices] == [f"model-1{i}" for i in range(10)]
    assert services.models.queries == ["", "model-1"]
    assert services.jobs.calls == []


async def test_result_replaces_the_response_with_embed_files_and_buttons(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a cat", negative="dogs")
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    message_id = await services.jobs.finish(1, note="output prompt: a cat, detailed")
    message = fake.original(ix)
    assert message_id == int(message["id"])
    assert [name for name, _ in message["_files"]] == ["job1_grid.png"] + [f"job1_{i}.png" for i in range(1, 5)]
    embed = message["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["description"] == "a cat"
    assert fields["Negative"] == "dogs"
    assert fields["Seed"] == "1234"
    assert fields["Model"] == "tiny-sd"
    assert fields["LoRAs"] == "style-a ×0.8"
    assert fields["Size"] == "64×64"
    assert fields["Steps"] == "4"
    assert embed["image"]["url"] == "attachment://job1_grid.png"
    assert message["content"] == "output prompt: a cat, detailed"
    labels = [[c.get("label") or c["emoji"]["name"] for c in row["components"]] for row in message["components"]]
    assert labels[0] == ["U1", "U2", "U3", "U4"]
    assert labels[1] == ["V1", "V2", "V3", "V4"]
    assert labels[-1] == ["🔄", "✏️", "🗑️"]


async def test_progress_is_rate_limited_but_the_last_step_is_sent(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a cat")
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    before = len(fake.requests)
    for step in range(1, 11):
        await services.jobs.step(1, step, 10)
    edits = [r for r in fake.requests[before:] if r.method == "PATCH"]
    assert [e.json["content"] for e in edits] == [
        "🎨 Generating: step 1 of 10, ETA ≈ 3 s",
        "🎨 Generating: step 10 of 10, ETA ≈ 3 s",
    ]


async def test_expired_token_delivers_a_channel_message_that_mentions_the_requester(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="slow one")
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    # The service persisted the token long ago; it has expired since.
    job = services.jobs.jobs[1]
    job.token, job.token_expires_at = "expired-token", datetime.now(UTC) - timedelta(minutes=1)
    bot.delivery.routes.forget(1)
    job.message_id = int(fake.original(ix)["id"])
    await services.jobs.step(1, 5, 5)
    assert "step 5 of 5" in fake.original(ix)["content"]  # edited by id through the channel
    message_id = await services.jobs.finish(1)
    posted = fake.messages[message_id]
    assert posted["_via_channel"]
    assert posted["content"].startswith(f"<@{USER_ID}>")
    assert posted["_allowed_mentions"] == {"parse": [], "users": [USER_ID]}
    assert len(posted["attachments"]) == 5
    assert int(fake.original_id_of(ix)) in fake.deleted  # the old status message is gone


async def test_job_without_any_token_gets_one_channel_message_edited_in_place(fake, bot, services) -> None:
    ticket = await services.jobs.submit_generate(services_caller(), GenerateInput("scheduled"))
    route = services.jobs.route(ticket.job_id)
    first = await bot.delivery.queued(route, 2, 30.0)
    await services.jobs.step(ticket.job_id, 1, 4)
    await services.jobs.step(ticket.job_id, 4, 4)
    assert [m["id"] for m in fake.channel_messages()] == [str(first)]
    assert "step 4 of 4" in fake.messages[first]["content"]
    await bot.delivery.failed(services.jobs.route(ticket.job_id), "The model ran out of memory: try fewer images.")
    assert fake.messages[first]["content"].startswith("❌ The model ran out of memory")
    assert fake.messages[first]["components"] == []


async def test_eight_images_and_grid_fit_ten_attachments(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="many", count=8)
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    await services.jobs.finish(1, count=8)
    message = fake.original(ix)
    assert len(message["attachments"]) == 9
    assert len(message["components"]) == 5  # U 5+3, V 5+3, actions: no room for strong variants
    assert sum(len(r["components"]) for r in message["components"]) == 8 + 8 + 3


async def test_individual_images_are_dropped_before_the_grid(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="huge", count=4)
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    # 4 MiB grid + 4 × 3.5 MiB images: only the grid and one image fit under 10 MiB.
    await services.jobs.finish(1, image_bytes=7 * 512 * 1024, grid_bytes=4 * 1024 * 1024)
    message = fake.original(ix)
    assert [a["filename"] for a in message["attachments"]] == ["job1_grid.png", "job1_1.png"]
    assert "3 file(s) left out" in message["content"]


async def test_spoiler_results_use_spoiler_filenames(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="secret", count=2)
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    await services.jobs.finish(1, count=2, spoiler=True)
    message = fake.original(ix)
    assert all(a["filename"].startswith("SPOILER_") for a in message["attachments"])
    assert "image" not in message["embeds"][0]


async def test_cancel_button_cancels_the_running_job(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="oops")
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    click = fake.click("studio:cancel:1")
    await fake.wait_for(lambda: fake.original(ix)["content"] == "✖ Cancelled")
    assert click.callback_type == 6
    assert services.jobs.jobs[1].status == "cancelled"
    assert fake.original(ix)["components"] == []


async def test_delivery_errors_are_logged_not_raised(fake, bot, services, caplog) -> None:
    ticket = await services.jobs.submit_generate(services_caller(), GenerateInput("lost"))
    route = dataclasses.replace(services.jobs.route(ticket.job_id), channel_id=None)
    assert await bot.delivery.queued(route, 0, None) is None
    assert f"job_id={ticket.job_id}" in caplog.text


def services_caller():
    from bot.services.api import Caller

    return Caller(user_id=USER_ID, guild_id=GUILD_ID, channel_id=CHANNEL_ID)
