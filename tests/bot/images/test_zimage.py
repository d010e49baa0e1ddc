"""Z-Image through discord.py's real code, the real services and the engine on tiny-zimage: /generate, /vary
(image-to-image) and /edit with a mask (inpainting)."""

from __future__ import annotations

from PIL import Image

from tests.bot.conftest import job_of
from tests.bot.images.conftest import mask_bytes, png_bytes

WAIT = 60.0


async def test_generate_on_zimage_delivers_two_images_with_its_parameters(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a red lighthouse", count=2, steps=2, model="tiny-zimage", seed=11)
    job = await services.jobs.wait(await job_of(fake, ix), WAIT)
    assert job.status == "done", job.error
    images = await services.db.images.for_job(job.id)
    assert [i.seed for i in images] == [11, 12]
    with Image.open(images[0].path) as png:
        assert png.size == (64, 64)
        text = png.info["parameters"]
        assert "Sampler: Euler, Schedule type: Simple," in text and "Model: tiny-zimage" in text


async def test_vary_on_zimage_runs_image_to_image(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes()), instruction="as pixel art", count=1, model="tiny-zimage"
    )
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(ix)["content"] or ""), within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.status == "done", job.error
    (image,) = await services.db.images.for_job(1)
    assert image.params["mode"] == "img2img" and job.result.get("negative", "") == ""


async def test_edit_with_a_mask_on_zimage_inpaints(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "edit", image=fake.attachment(png_bytes()), instruction="a red umbrella", mask=fake.attachment(mask_bytes()),
        model="tiny-zimage",
    )  # fmt: skip
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.kind == "edit" and job.status == "done", job.error
    images = await services.db.images.for_job(1)
    assert images and {i.params["mode"] for i in images} == {"inpaint"}
