"""/generate through discord.py's real command tree, the real services (on the fake engine), and the delivery port."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studio.contract import SERVER_ACCOUNT, Caller
from studio.images.api import GenerateInput, JobResult, ResultImage
from studio.jobs.routes import route_of
from tests.bot.conftest import custom_ids, edits, job_of
from tests.bot.fakediscord import CHANNEL_ID, GUILD_ID, USER_ID

FAST = {"steps": 2, "model": "tiny-sd"}


def _fields(message: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}


async def test_generate_queues_shows_progress_and_delivers_the_result(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="a red fox", count=2, steps=2, model="tiny-sd")
    job_id = await job_of(fake, ix)
    job = await studio.wait(job_id)
    assert job.status == "done"
    assert ix.callback_type == 5  # deferred ("thinking…") within Discord's 3 s
    assert ix.callback_at - ix.dispatched_at < 3

    # Queued → progress → result, all edits of the one response the command deferred.
    contents = [e.get("content") or "" for e in edits(fake, ix)]
    assert contents[0].startswith("⏳ Queued: next up")
    assert any(c.startswith("🎨 Generating: step") for c in contents[1:-1])
    assert custom_ids(edits(fake, ix)[0]) == [f"studio:cancel:{job_id}"]
    message = fake.original(ix)
    assert job.message_id == int(message["id"])
    assert job.interaction_token == ix.token  # stored with the job, so a restart can still edit

    embed = message["embeds"][0]
    fields = _fields(message)
    assert embed["title"] == f"Job #{job_id}"
    assert embed["description"] == "a red fox"
    assert fields["Model"] == "tiny-sd"
    assert fields["Seed"] == str(job.request["seed"])
    assert fields["Steps"] == "2"
    assert fields["Guidance"] == f"{job.request['guidance']:g}"
    assert fields["Size"] == f"{job.request['width']}×{job.request['height']}"
    assert embed["image"]["url"] == f"attachment://job{job_id}_grid.png"
    names = [a["filename"] for a in message["attachments"]]
    assert names == [f"job{job_id}_grid.png", f"job{job_id}_1.png", f"job{job_id}_2.png"]
    assert all(a["size"] > 0 for a in message["attachments"])
    labels = [[c.get("label") or c["emoji"]["name"] for c in row["components"]] for row in message["components"]]
    assert labels == [["U1", "U2"], ["V1", "V2"], ["V1+", "V2+"], ["🔄", "✏️", "🗑️"]]
    images = await studio.services.db.images.for_job(job_id)
    posted = await studio.services.db.posts.for_message(int(message["id"]))
    assert [(p.number, p.image_id, p.role) for p in posted] == [(1, images[0].id, "grid"), (2, images[1].id, "grid")]


async def test_count_outside_the_choices_never_reaches_the_service(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="x", count=3, validate=False)
    await fake.wait_for(lambda: ix.callback_type is not None)
    reply = fake.original(ix)
    assert reply["flags"] & 64
    assert "not a valid value" in reply["content"]
    assert await studio.queued_jobs() == []


async def test_autocomplete_caps_at_25_and_narrows(fake, studio, bot) -> None:
    for i in range(30):
        await studio.services.db.models.add(
            f"style-{i:02d}", f"Style {i:02d}", "lora", "sd15", "/loras/none.safetensors", base_model="tiny-sd"
        )
    everything = fake.autocomplete("generate", "model", prompt="p", model="")
    await fake.wait_for(lambda: everything.choices is not None)
    assert len(everything.choices) == 25
    narrowed = fake.autocomplete("generate", "model", prompt="p", model="style-1")
    await fake.wait_for(lambda: narrowed.choices is not None)
    assert sorted(c["value"] for c in narrowed.choices) == [f"style-1{i}" for i in range(10)]
    tiny = fake.autocomplete("generate", "model", prompt="p", model="test model")
    await fake.wait_for(lambda: tiny.choices is not None)
    assert {c["value"] for c in tiny.choices} == {
        "tiny-sd",
        "tiny-sdxl",
        "tiny-flux",
        "tiny-flux-kontext",
        "tiny-world",
        "tiny-flux2",
        "tiny-zimage",
        "tiny-qwen",
    }
    assert await studio.queued_jobs() == []


async def test_progress_is_rate_limited_but_the_last_step_is_sent(fake, studio, make_bot) -> None:
    from studio.contract import Progress

    bot = await make_bot(start=False)  # the job must stay queued: the test plays the worker's progress
    ix = fake.slash("generate", prompt="a cat", **FAST)
    job_id = await job_of(fake, ix)
    route = route_of(await studio.services.db.jobs.get(job_id))
    before = len(edits(fake, ix))
    for step in range(1, 11):
        await bot.delivery.progress(route, Progress(job_id, step, 10, 3.0))
    assert [e["content"] for e in edits(fake, ix)[before:]] == [
        "🎨 Generating: step 1 of 10, ETA ≈ 3 s",
        "🎨 Generating: step 10 of 10, ETA ≈ 3 s",
    ]


async def test_a_progress_picture_is_uploaded_once_and_kept_until_it_changes(fake, studio, make_bot, tmp_path) -> None:
    from PIL import Image

    from studio.contract import Progress

    bot = await make_bot(start=False)
    bot.delivery.progress_interval_s = 0.0
    ix = fake.slash("generate", prompt="a cat", **FAST)
    job_id = await job_of(fake, ix)
    route = route_of(await studio.services.db.jobs.get(job_id))
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(first)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(second)
    before = len(edits(fake, ix))
    for step, picture in ((1, None), (2, first), (3, first), (4, second)):
        await bot.delivery.progress(route, Progress(job_id, step, 10, 3.0, "Training", "loss 0.1", picture))
    path = f"/webhooks/{bot.application_id}/{ix.token}/messages/@original"
    patches = [r for r in fake.requests if r.method == "PATCH" and r.path == path][before:]
    assert [[name for name, _ in r.files] for r in patches] == [
        [],
        [f"job{job_id}_progress.png"],
        [],
        [f"job{job_id}_progress.png"],
    ]
    assert "attachments" not in patches[2].json  # the third edit leaves the picture as it is
    assert patches[0].json["attachments"] == []
    assert fake.original(ix)["content"] == "🎨 Training: step 4 of 10 (loss 0.1), ETA ≈ 3 s"
    assert len(fake.original(ix)["attachments"]) == 1


async def test_expired_token_delivers_a_channel_message_that_mentions_the_requester(fake, studio, make_bot) -> None:
    bot = await make_bot(start=False)
    ix = fake.slash("generate", prompt="slow one", count=2, **FAST)
    job_id = await job_of(fake, ix)
    assert "Queued" in fake.original(ix)["content"]
    # The job waited in the queue for longer than the token lives.
    bot.delivery.clock = lambda: datetime.now(UTC) + timedelta(minutes=16)
    await studio.services.jobs.start()
    job = await studio.wait(job_id)
    assert job.status == "done"
    posted = fake.messages[job.message_id]
    assert posted["_via_channel"]
    assert posted["content"].startswith(f"<@{USER_ID}>")
    assert posted["_allowed_mentions"] == {"parse": [], "users": [USER_ID]}
    assert len(posted["attachments"]) == 3
    assert posted["embeds"][0]["title"] == f"Job #{job_id}"
    assert fake.original_id_of(ix) in fake.deleted  # the old status message is gone
    # No edit went through the expired token after the "Queued" one.
    assert len(edits(fake, ix)) == 1


async def test_a_job_queued_before_a_restart_is_delivered_on_its_interaction_after(fake, studio, make_bot) -> None:
    old = await make_bot(start=False)  # the process stops before the job runs
    ix = fake.slash("generate", prompt="patience", count=1, **FAST)
    job_id = await job_of(fake, ix)
    await studio.close()
    fresh = await make_bot()  # new services, a new bot and delivery port: only the database remembers the token
    assert fresh is not old and fresh.delivery is not old.delivery
    job = await studio.wait(job_id)
    assert job.status == "done"
    message = fake.original(ix)
    assert job.message_id == int(message["id"])
    assert message["embeds"][0]["title"] == f"Job #{job_id}"
    assert [a["filename"] for a in message["attachments"]] == [f"job{job_id}_1.png"]
    assert fake.channel_messages() == []


async def test_job_without_a_token_gets_a_status_message_then_the_result(fake, studio, bot) -> None:
    """A job from the CLI or a schedule has no interaction: a channel status message, then the result."""
    caller = Caller(user_id=USER_ID, guild_id=GUILD_ID, channel_id=CHANNEL_ID)
    ticket = await studio.services.generate.submit(caller, GenerateInput("scheduled", count=1, **FAST))
    job = await studio.wait(ticket.job_id)
    assert job.status == "done"
    posts = [r for r in fake.requests if r.path == f"/channels/{CHANNEL_ID}/messages" and r.method == "POST"]
    assert posts[0].json["content"].startswith(f"<@{USER_ID}> ⏳ Queued")
    assert posts[0].json["allowed_mentions"] == {"parse": [], "users": [USER_ID]}
    channel = fake.channel_messages()
    assert [int(m["id"]) for m in channel] == [job.message_id]  # the status message made room for the result
    assert channel[0]["content"] == f"<@{USER_ID}>"
    assert channel[0]["embeds"][0]["description"] == "scheduled"
    assert len(fake.deleted) == 1


async def test_a_scheduled_post_pings_nobody_skips_the_role_list_and_is_charged_to_the_server(
    fake, studio, bot
) -> None:
    await studio.settings("allowed_role_ids", "555555555")  # members need this role to generate
    await studio.settings("daily_quota", "1")
    creator = Caller(
        user_id=USER_ID, guild_id=GUILD_ID, channel_id=CHANNEL_ID, account=SERVER_ACCOUNT, origin="schedule"
    )
    for prompt in ("morning post", "evening post"):  # over the creator's own quota: the server pays
        ticket = await studio.services.generate.submit(creator, GenerateInput(prompt, count=1, **FAST))
        job = await studio.wait(ticket.job_id)
        assert (job.status, job.origin) == ("done", "schedule")
    posts = [r.json for r in fake.requests if r.path == f"/channels/{CHANNEL_ID}/messages" and r.method == "POST"]
    assert posts and all("<@" not in (p.get("content") or "") for p in posts)
    assert all(p["allowed_mentions"] == {"parse": [], "users": []} for p in posts)
    assert [m["embeds"][0]["description"] for m in fake.channel_messages()] == ["morning post", "evening post"]
    assert await studio.services.db.usage.images_on(0, GUILD_ID) == 2
    assert await studio.services.db.usage.images_on(USER_ID, GUILD_ID) == 0
    # The same member typing /generate is held to the role list.
    ix = fake.slash("generate", prompt="by hand", count=1, **FAST)
    await fake.wait_for(lambda: ix.followups)
    assert "Only members with one of these roles" in fake.messages[ix.followups[-1]]["content"]


async def test_a_result_of_a_type_nothing_renders_fails_visibly(fake, studio, bot, caplog) -> None:
    """A kind that delivers something no renderer knows is a bug: the user hears of it, the log has it."""
    from studio.contract import JobRoute

    route = JobRoute(1, USER_ID, GUILD_ID, CHANNEL_ID, None, interaction_token=None, token_expires_at=None)
    assert await bot.delivery.delivered(route, object()) is None  # type: ignore[arg-type]
    (message,) = fake.channel_messages()
    expected = "❌ This result cannot be shown here; the error was logged for the admins."
    assert message["content"] == f"<@{USER_ID}> {expected}"
    assert any("No way to show the result of job_id=1" in r.getMessage() for r in caplog.records)


async def test_progress_names_what_the_job_does(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="a fox", count=1, steps=6, model="tiny-sd")
    job = await studio.wait(await job_of(fake, ix))
    click = fake.click(f"studio:v:{job.id}:1:x", message=fake.original(ix))
    varied = await studio.wait(await job_of(fake, click))
    assert varied.kind == "vary"
    contents = [e.get("content") or "" for e in edits(fake, click)]
    assert any(c.startswith("🎨 Varying: step") for c in contents), contents


@pytest.mark.slow
async def test_a_job_the_engine_cannot_run_ends_in_a_short_error(fake, tiny_studio) -> None:
    studio = tiny_studio
    await studio.open()
    await studio.services.db.models.add("broken", "Broken", "base", "sd15", str(studio.data_dir / "missing-model"))
    ix = fake.slash("generate", prompt="a cat", count=1, steps=2, model="broken")
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "failed"
    message = fake.original(ix)
    assert message["content"].startswith("❌ Model 'broken'")
    assert str(studio.data_dir) in job.error  # the admin sees where it looked, in the database and the log
    assert str(studio.data_dir) not in message["content"]  # the user does not
    assert "missing-model" in message["content"]
    assert message["components"] == []
    assert not message["attachments"]


async def test_eight_images_and_grid_fit_ten_attachments(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="many", count=8, **FAST)
    job = await studio.wait(await job_of(fake, ix))
    message = fake.original(ix)
    assert job.status == "done"
    assert len(message["attachments"]) == 9
    assert len(message["components"]) == 5  # U 5+3, V 5+3, actions: no room for strong variants
    assert sum(len(r["components"]) for r in message["components"]) == 8 + 8 + 3


async def test_individual_images_are_dropped_before_the_grid(fake, studio, make_bot, tmp_path: Path) -> None:
    bot = await make_bot(start=False)
    ix = fake.slash("generate", prompt="huge", count=4, **FAST)
    job_id = await job_of(fake, ix)
    route = route_of(await studio.services.db.jobs.get(job_id))
    # tiny-sd writes a few KiB per image; play a real model's output: 4 MiB grid + 4 × 3.5 MiB images.
    folder = tmp_path / "big"
    folder.mkdir()
    images = []
    for index in range(4):
        path = folder / f"{index}.png"
        path.write_bytes(b"i" * (7 * 512 * 1024))
        images.append(ResultImage(index + 1, index, path, 10 + index, 1024, 1024))
    grid = folder / "grid.png"
    grid.write_bytes(b"g" * (4 * 1024 * 1024))
    result = JobResult(
        job_id, "generate", USER_ID, "huge", "", "sdxl", (), 10, 30, 7.0, 1024, 1024, tuple(images), grid
    )
    await bot.delivery.delivered(route, result)
    message = fake.original(ix)
    assert [a["filename"] for a in message["attachments"]] == [f"job{job_id}_grid.png", f"job{job_id}_1.png"]
    assert "3 file(s) left out" in message["content"]


async def test_spoiler_results_use_spoiler_filenames(fake, studio, bot) -> None:
    await studio.settings("nsfw_policy", "spoiler")
    ix = fake.slash("generate", prompt="nude statue in marble", count=2, **FAST)
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done"
    message = fake.original(ix)
    assert len(message["attachments"]) == 3
    assert all(a["filename"].startswith("SPOILER_") for a in message["attachments"])
    assert "image" not in message["embeds"][0]


async def test_cancel_button_cancels_a_running_job(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="oops", count=1, steps=40, model="tiny-sd")
    job_id = await job_of(fake, ix)
    await fake.wait_for(lambda: "Generating" in fake.original(ix)["content"], within=30)
    click = fake.click(f"studio:cancel:{job_id}", message=fake.original(ix))
    job = await studio.wait(job_id)
    assert job.status == "cancelled"
    assert click.callback_type == 6
    await fake.wait_for(lambda: fake.original(ix)["content"] == "✖ Cancelled")
    assert fake.original(ix)["components"] == []
    assert not fake.original(ix)["embeds"]


async def test_cancel_button_of_a_waiting_job(fake, studio, make_bot) -> None:
    await make_bot(start=False)
    ix = fake.slash("generate", prompt="later", **FAST)
    job_id = await job_of(fake, ix)
    other = fake.click(f"studio:cancel:{job_id}", message=fake.original(ix), user_id=USER_ID + 1)
    await fake.wait_for(lambda: other.followups)
    assert fake.messages[other.followups[0]]["flags"] & 64
    assert (await studio.services.db.jobs.get(job_id)).status == "queued"
    fake.click(f"studio:cancel:{job_id}", message=fake.original(ix))
    await fake.wait_for(lambda: fake.original(ix)["content"] == "✖ Cancelled")
    assert (await studio.services.db.jobs.get(job_id)).status == "cancelled"


async def test_delivery_errors_are_logged_not_raised(fake, studio, make_bot, caplog) -> None:
    bot = await make_bot(start=False)
    caller = Caller(user_id=USER_ID, guild_id=GUILD_ID, channel_id=CHANNEL_ID)
    ticket = await studio.services.generate.submit(caller, GenerateInput("lost", **FAST))
    route = dataclasses.replace(route_of(await studio.services.db.jobs.get(ticket.job_id)), channel_id=None)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        assert await bot.delivery.queued(route, 0, None) is None
    assert f"job_id={ticket.job_id}" in caplog.text


async def test_the_settings_option_carries_a_models_own_settings(fake, studio, bot) -> None:
    ix = fake.slash("generate", prompt="an anime fox", count=1, settings="clip_skip=2", **FAST)
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done" and job.request["extras"] == {"clip_skip": 2}
    assert studio.host.manager().calls[-1].extras == {"clip_skip": 2}  # typed by the family when queued
    refused = fake.slash("generate", prompt="an anime fox", settings="clip_skip", **FAST)
    await fake.wait_for(lambda: refused.followups or (refused.original_id and fake.original(refused)["content"]))
    text = fake.messages[refused.followups[-1]]["content"] if refused.followups else fake.original(refused)["content"]
    assert "Write each setting as name=value" in text
