"""Every result button through discord.py's DynamicItem dispatch, also on a freshly started bot."""

from __future__ import annotations

import pytest

from tests.bot.fakediscord import MANAGE_MESSAGES, USER_ID


@pytest.fixture
async def result_message(fake, bot, services):
    ix = fake.slash("generate", prompt="a cat", count=4)
    await fake.wait_for(lambda: "Queued" in fake.original(ix)["content"])
    await services.jobs.finish(1)
    return fake.original(ix)


async def test_upscale_posts_the_image_alone_with_its_own_v_buttons(fake, services, result_message) -> None:
    click = fake.click("studio:u:1:3", message=result_message)
    await fake.wait_for(lambda: fake.original(click)["attachments"])
    posted = fake.original(click)
    assert posted["id"] != result_message["id"]
    assert [a["filename"] for a in posted["attachments"]] == ["job1_3.png"]
    assert "128×128" in posted["content"]
    ids = [c["custom_id"] for row in posted["components"] for c in row["components"]]
    assert ids == ["studio:v:1:3:s", "studio:v:1:3:x"]
    assert services.jobs.calls[-1][0] == "upscale"
    assert services.jobs.calls[-1][2] == (1, 3)


@pytest.mark.parametrize(("custom_id", "strength"), [("studio:v:1:2:s", "subtle"), ("studio:v:1:2:x", "strong")])
async def test_vary_starts_a_new_job_in_a_new_message(fake, services, result_message, custom_id, strength) -> None:
    click = fake.click(custom_id, message=result_message)
    await fake.wait_for(lambda: "Queued" in fake.original(click)["content"])
    assert services.jobs.calls[-1][0] == "vary"
    assert services.jobs.calls[-1][2] == (1, 2, strength)
    # The new job is delivered on the click's own response.
    await services.jobs.finish(2)
    assert fake.original(click)["embeds"][0]["title"] == "Job #2"


async def test_reroll(fake, services, result_message) -> None:
    click = fake.click("studio:reroll:1", message=result_message)
    await fake.wait_for(lambda: "Queued" in fake.original(click)["content"])
    assert services.jobs.jobs[2].parent == 1
    assert services.jobs.jobs[2].kind == "reroll"


async def test_remix_opens_a_prefilled_modal_and_submits(fake, services, result_message) -> None:
    click = fake.click("studio:remix:1", message=result_message)
    await fake.wait_for(lambda: click.callback_type == 9)
    modal = click.callback_data
    assert modal["custom_id"] == "studio:remixm:1"
    text_input = modal["components"][0]
    text_input = text_input.get("component") or text_input["components"][0]
    assert text_input["value"] == "a cat"
    submit = fake.submit_modal(click, {"Prompt": "a cat in a hat"})
    await fake.wait_for(lambda: "Queued" in fake.original(submit)["content"])
    assert services.jobs.calls[-1][0] == "remix"
    assert services.jobs.calls[-1][2] == (1, "a cat in a hat")


async def test_delete_removes_the_job_and_its_message(fake, services, result_message) -> None:
    fake.click("studio:del:1", message=result_message)
    await fake.wait_for(lambda: int(result_message["id"]) in fake.deleted)
    assert 1 not in services.jobs.jobs


async def test_delete_by_someone_else_is_refused_privately(fake, services, result_message) -> None:
    click = fake.click("studio:del:1", message=result_message, user_id=USER_ID + 1)
    await fake.wait_for(lambda: click.followups)
    reply = fake.messages[click.followups[0]]
    assert reply["flags"] & 64
    assert reply["content"] == "Only the requester or a moderator can delete this."
    assert 1 in services.jobs.jobs
    assert int(result_message["id"]) not in fake.deleted
    moderator = fake.click("studio:del:1", message=result_message, user_id=USER_ID + 1, permissions=MANAGE_MESSAGES)
    await fake.wait_for(lambda: int(result_message["id"]) in fake.deleted)
    assert moderator.callback_type == 6


async def test_buttons_work_on_a_new_bot_after_a_restart(fake, make_bot, services, result_message) -> None:
    old = fake.bot
    await old.close()
    fresh = await make_bot()
    assert fresh is not old
    click = fake.click("studio:reroll:1", message=result_message, bot=fresh)
    await fake.wait_for(lambda: "Queued" in fake.original(click)["content"])
    upscale = fake.click("studio:u:1:1", message=result_message, bot=fresh)
    await fake.wait_for(lambda: fake.original(upscale)["attachments"])
    assert [c[0] for c in services.jobs.calls[-2:]] == ["reroll", "upscale"]


async def test_button_of_a_deleted_job_says_it_is_gone(fake, services, result_message) -> None:
    del services.jobs.jobs[1]
    for custom_id in ("studio:u:1:1", "studio:reroll:1", "studio:v:1:1:s", "studio:remix:1"):
        click = fake.click(custom_id, message=result_message)
        await fake.wait_for(lambda click=click: click.followups or (click.callback_type == 4))
        reply = fake.messages[click.followups[0]] if click.followups else fake.original(click)
        assert reply["content"] == "This job no longer exists."
        assert reply["flags"] & 64
    assert fake.hanging() == []
