"""Every result button through discord.py's DynamicItem dispatch on the real services, also after a restart."""

from __future__ import annotations

import pytest

from tests.bot.conftest import custom_ids, job_of, reply
from tests.bot.fakediscord import MANAGE_MESSAGES, USER_ID

OTHER = USER_ID + 1


@pytest.fixture
async def first(fake, studio, bot):
    """A finished /generate of two images: (job row, its result message)."""
    # 3 steps: a subtle variation (strength 0.35) of fewer steps would have no denoising step left.
    ix = fake.slash("generate", prompt="a cat", count=2, steps=3, model="tiny-sd")
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done"
    return job, fake.original(ix)


async def _result_of(fake, studio, ix):
    """Wait for the job an interaction started; return its row and the message its result replaced."""
    job = await studio.wait(await job_of(fake, ix))
    assert job.status == "done", job.error
    return job, fake.original(ix)


async def test_upscale_posts_the_image_alone_with_its_own_v_buttons(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:u:{job.id}:2", message=message)
    await fake.wait_for(lambda: fake.original(click)["attachments"])
    posted = fake.original(click)
    assert posted["id"] != message["id"]
    assert [a["filename"] for a in posted["attachments"]] == [f"job{job.id}_2.png"]
    image = (await studio.services.db.images.for_job(job.id))[1]
    assert posted["attachments"][0]["size"] == image.size_bytes
    assert posted["content"] == f"Image 2 of job #{job.id} (64×64, seed {job.request['seed'] + 1})"
    assert custom_ids(posted) == [f"studio:v:{job.id}:2:s", f"studio:v:{job.id}:2:x"]
    assert await studio.queued_jobs() == []


@pytest.mark.parametrize(("code", "strength"), [("s", "subtle"), ("x", "strong")])
async def test_vary_runs_an_img2img_job_and_delivers_it(fake, studio, first, code, strength) -> None:
    job, message = first
    click = fake.click(f"studio:v:{job.id}:1:{code}", message=message)
    varied, result = await _result_of(fake, studio, click)
    assert result["id"] != message["id"]  # delivered on the click's own response
    assert varied.kind == "vary"
    assert varied.request["mode"] == "img2img"
    assert varied.request["source_image"] == str((await studio.services.db.images.for_job(job.id))[0].path)
    assert result["content"] == f"Variation ({strength}) of image 1 of job {job.id}"
    assert result["embeds"][0]["title"] == f"Job #{varied.id}"
    assert len(result["attachments"]) == 3


async def test_reroll_runs_the_same_settings_with_a_new_seed(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:reroll:{job.id}", message=message, user_id=OTHER)
    rerolled, result = await _result_of(fake, studio, click)
    assert rerolled.requester_id == OTHER
    assert rerolled.request["prompt"] == "a cat"
    assert rerolled.request["seed"] != job.request["seed"]
    fields = {f["name"]: f["value"] for f in result["embeds"][0]["fields"]}
    assert fields["Seed"] == str(rerolled.request["seed"])
    assert fields["Steps"] == "3"


async def test_remix_opens_a_prefilled_modal_and_runs_the_new_prompt(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:remix:{job.id}", message=message)
    await fake.wait_for(lambda: click.callback_type == 9)
    modal = click.callback_data
    assert modal["custom_id"] == f"studio:remixm:{job.id}"
    text_input = modal["components"][0]
    text_input = text_input.get("component") or text_input["components"][0]
    assert text_input["value"] == "a cat"
    submit = fake.submit_modal(click, {"Prompt": "a cat in a hat"})
    remixed, result = await _result_of(fake, studio, submit)
    assert remixed.request["prompt"] == "a cat in a hat"
    assert result["embeds"][0]["description"] == "a cat in a hat"


async def test_a_remix_modal_opened_before_a_restart_still_submits(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:remix:{job.id}", message=message)
    await fake.wait_for(lambda: click.callback_type == 9)
    await studio.close()  # the modal stays open in the user's client while the bot restarts
    fresh = await studio.open()
    submit = fake.submit_modal(click, {"Prompt": "a cat on the moon"}, bot=fresh)
    remixed, result = await _result_of(fake, studio, submit)
    assert remixed.request["prompt"] == "a cat on the moon"
    assert result["embeds"][0]["description"] == "a cat on the moon"


async def test_a_remix_of_a_deleted_job_says_so(fake, studio, first) -> None:
    from studio.privacy import delete_user_data

    job, message = first
    click = fake.click(f"studio:remix:{job.id}", message=message)
    await fake.wait_for(lambda: click.callback_type == 9)
    await delete_user_data(studio.services.db, USER_ID)
    submit = fake.submit_modal(click, {"Prompt": "a dog"})
    await fake.wait_for(lambda: submit.followups or submit.callback_type == 4)
    assert reply(fake, submit)["content"] == "This job no longer exists."
    assert fake.hanging() == []


async def test_delete_is_refused_to_others_and_done_for_the_requester(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:del:{job.id}", message=message, user_id=OTHER)
    await fake.wait_for(lambda: click.followups)
    refusal = fake.messages[click.followups[0]]
    assert refusal["flags"] & 64
    assert refusal["content"] == "Only the person who asked for this job, or a moderator, can do that."
    assert int(message["id"]) not in fake.deleted
    own = fake.click(f"studio:del:{job.id}", message=message)
    await fake.wait_for(lambda: int(message["id"]) in fake.deleted)
    assert own.callback_type == 6


async def test_a_moderator_may_delete_anyones_result(fake, studio, first) -> None:
    job, message = first
    click = fake.click(f"studio:del:{job.id}", message=message, user_id=OTHER, permissions=MANAGE_MESSAGES)
    await fake.wait_for(lambda: int(message["id"]) in fake.deleted)
    assert click.followups == []


async def test_buttons_work_on_new_services_and_a_new_bot_after_a_restart(fake, studio, first) -> None:
    job, message = first
    old_bot, old_services = studio.bot, studio.services
    await studio.close()
    fresh = await studio.open()
    assert fresh is not old_bot and studio.services is not old_services
    upscale = fake.click(f"studio:u:{job.id}:1", message=message, bot=fresh)
    await fake.wait_for(lambda: fake.original(upscale)["attachments"])
    assert [a["filename"] for a in fake.original(upscale)["attachments"]] == [f"job{job.id}_1.png"]
    click = fake.click(f"studio:reroll:{job.id}", message=message, bot=fresh)
    rerolled, result = await _result_of(fake, studio, click)
    assert rerolled.id > job.id
    assert result["embeds"][0]["title"] == f"Job #{rerolled.id}"


async def test_buttons_of_a_job_that_no_longer_exists_say_so(fake, studio, first) -> None:
    from studio.privacy import delete_user_data

    job, message = first
    await delete_user_data(studio.services.db, USER_ID)  # `studio db delete-user`: the job row is gone
    buttons = ("u:{}:1", "reroll:{}", "v:{}:1:s", "remix:{}")
    for custom_id in (f"studio:{b.format(job.id)}" for b in buttons):
        click = fake.click(custom_id, message=message, user_id=OTHER)
        await fake.wait_for(lambda click=click: click.followups or (click.callback_type == 4))
        answer = reply(fake, click)
        assert answer["content"] == "This job no longer exists."
        assert answer["flags"] & 64
    assert fake.hanging() == []
    assert await studio.queued_jobs() == []


async def test_reroll_of_a_variation_whose_source_file_is_gone_is_refused_clearly(fake, studio, first) -> None:
    job, message = first
    varied, result = await _result_of(fake, studio, fake.click(f"studio:v:{job.id}:1:s", message=message))
    source = (await studio.services.db.images.for_job(job.id))[0].path
    source.unlink()  # an admin cleaned the images folder
    click = fake.click(f"studio:reroll:{varied.id}", message=result)
    await fake.wait_for(lambda: click.followups)
    answer = reply(fake, click)
    assert answer["flags"] & 64
    assert answer["content"] == "The image this job started from is gone from the server. Start again from a new image."
    assert await studio.queued_jobs() == []
    assert (await studio.services.db.jobs.list_for_user(USER_ID))[0].id == varied.id  # nothing new
