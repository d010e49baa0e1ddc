"""FLUX.1 through discord.py's real code, the real services and the engine on tiny-flux and tiny-flux-kontext."""

from __future__ import annotations

from PIL import Image

from tests.bot.conftest import job_of
from tests.bot.images.conftest import png_bytes

WAIT = 60.0


def _ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


async def test_generate_on_flux_delivers_images_with_buttons_and_metadata(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a red lighthouse", count=2, steps=2, model="tiny-flux", seed=11)
    job = await services.jobs.wait(await job_of(fake, ix), WAIT)
    assert job.status == "done", job.error
    message = fake.original(ix)
    assert "studio:reroll:1" in _ids(message) and "studio:u:1:2" in _ids(message)
    images = await services.db.images.for_job(job.id)
    assert [i.seed for i in images] == [11, 12]
    with Image.open(images[0].path) as png:
        assert png.size == (64, 64)
        text = png.info["parameters"]
        assert "Sampler: Euler, Schedule type: Simple," in text and "Model: tiny-flux" in text  # as Forge names it


async def test_a_negative_prompt_on_flux_is_refused_in_words(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a cat", negative="blurry", count=1, steps=2, model="tiny-flux")
    await fake.wait_for(lambda: ix.followups or (ix.original_id and "❌" in (fake.original(ix)["content"] or "")))
    text = fake.messages[ix.followups[-1]]["content"] if ix.followups else fake.original(ix)["content"]
    assert "FLUX models take no negative prompt" in text


async def test_vary_on_kontext_edits_by_the_instruction_itself(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes((128, 64))), instruction="make  it   a watercolor", count=2,
        model="tiny-flux-kontext",
    )  # fmt: skip
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(ix)["content"] or ""), within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.kind == "vary" and job.status == "done", job.error
    assert job.result["prompt"] == "make it a watercolor"  # the instruction as Kontext got it: no caption, no composer
    assert fake.original(ix)["content"] == "Output prompt: make it a watercolor"
    images = await services.db.images.for_job(1)
    assert {i.params["mode"] for i in images} == {"instruct"}
    assert {(i.width, i.height) for i in images} == {(96, 48)}  # the upload's 2:1, at the model's area


async def test_vary_on_flux_dev_style_models_runs_image_to_image_without_a_negative(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes()), instruction="as pixel art", count=1, model="tiny-flux"
    )
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(ix)["content"] or ""), within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.status == "done", job.error
    (image,) = await services.db.images.for_job(1)
    assert image.params["mode"] == "img2img" and job.result.get("negative", "") == ""


async def test_a_character_sheet_on_kontext_gives_each_panel_as_an_instruction(fake, bot, services) -> None:
    ix = fake.slash("charactersheet", image=fake.attachment(png_bytes((96, 128))), count=4, model="tiny-flux-kontext")
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    assert "Method: FLUX.1 Kontext instructions on the reference." in fake.messages[ix.followups[0]]["content"]
    jobs = sorted(j.id for j in await services.db.jobs.list_for_user(fake_user(), 20) if j.kind == "sheet")
    for job_id in jobs:
        assert (await services.jobs.wait(job_id, WAIT)).status == "done"
    (image,) = await services.db.images.for_job(jobs[3])
    assert image.prompt == "Show this same character, in a gym. Keep the face, hairstyle and clothes exactly the same."
    assert image.params["mode"] == "instruct" and (image.width, image.height) == (48, 80)  # 3:4, in steps of 16
    assert fake.original(ix)["content"].startswith(
        "Character sheet · face angles (1) · FLUX.1 Kontext instructions on the reference"
    )


def fake_user() -> int:
    from tests.bot.fakediscord import USER_ID

    return USER_ID


async def test_edit_with_a_mask_on_kontext_inpaints(fake, bot, services) -> None:
    from tests.bot.images.conftest import mask_bytes

    ix = fake.slash_with_files(
        "edit", image=fake.attachment(png_bytes()), instruction="a red umbrella", mask=fake.attachment(mask_bytes()),
        model="tiny-flux-kontext",
    )  # fmt: skip
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.kind == "edit" and job.status == "done", job.error
    assert job.request["chosen"] == "tiny-flux-kontext"
    images = await services.db.images.for_job(1)
    assert {i.params["mode"] for i in images} == {"inpaint"}  # a mask: the inpainting path, not an instruction
