"""Qwen-Image through discord.py's real code, the real services and the engine on tiny-qwen: /generate with a
negative prompt (true CFG takes one), and /vary, which is image-to-image (no instruction editor here)."""

from __future__ import annotations

from PIL import Image

from tests.bot.conftest import job_of
from tests.bot.images.conftest import png_bytes

WAIT = 60.0


async def test_generate_on_qwen_delivers_two_images_with_its_negative_prompt(fake, bot, services) -> None:
    ix = fake.slash(
        "generate", prompt="a shop sign that says OPEN", negative="blurry", count=2, steps=2, model="tiny-qwen", seed=3
    )
    job = await services.jobs.wait(await job_of(fake, ix), WAIT)
    assert job.status == "done", job.error
    images = await services.db.images.for_job(job.id)
    assert [i.seed for i in images] == [3, 4]
    with Image.open(images[0].path) as png:
        assert png.size == (64, 64)
        text = png.info["parameters"]
        assert "Negative prompt: blurry" in text and "CFG scale: 4" in text and "Model: tiny-qwen" in text


async def test_vary_on_qwen_runs_image_to_image(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes()), instruction="as a poster", count=1, model="tiny-qwen"
    )
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(ix)["content"] or ""), within=WAIT)
    job = await services.jobs.wait(1, WAIT)
    assert job.status == "done", job.error
    (image,) = await services.db.images.for_job(1)
    assert image.params["mode"] == "img2img"
