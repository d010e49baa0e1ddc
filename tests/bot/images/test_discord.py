"""/describe, /vary, /edit and the Describe message command through discord.py's real code paths,
the real services and the engine on tiny models."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.bot.images.conftest import mask_bytes, png_bytes

WAIT = 60.0


def _ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels (a decompression bomb's shape), with no real data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


async def _done(services, job_id: int):
    return await services.jobs.wait(job_id, WAIT)


async def test_describe_answers_numbered_prompts_with_buttons_that_work_on_a_new_bot(
    fake, bot, make_bot, services
) -> None:
    ix = fake.slash_with_files("describe", image=fake.attachment(png_bytes()), count=3)
    message = await fake.wait_for(lambda: fake.original(ix)["embeds"] and fake.original(ix), within=WAIT)
    stored = await services.describe.described(1)
    assert len(stored.prompts) == 3 and len(set(stored.prompts)) == 3
    description = message["embeds"][0]["description"]
    for n, prompt in enumerate(stored.prompts, start=1):
        assert f"**{n}.** {prompt}" in description
    assert _ids(message) == ["studio:dg:1:1", "studio:dg:1:2", "studio:dg:1:3", "studio:dga:1"]
    assert ix.callback_type == 5

    # A second bot instance (nothing in memory) handles the click: the prompts come from the database.
    other = await make_bot()
    click = fake.click("studio:dg:1:2", bot=other)
    await fake.wait_for(lambda: fake.original(click)["embeds"], within=WAIT)
    job = await _done(services, 2)
    assert job.kind == "generate" and job.request["prompt"] == stored.prompts[1]
    await fake.wait_for(lambda: fake.original(click)["embeds"][0]["description"] == stored.prompts[1], within=WAIT)
    assert any(i.startswith("studio:u:2:") for i in _ids(fake.original(click)))


async def test_generate_all_starts_one_job_per_prompt(fake, bot, services) -> None:
    ix = fake.slash_with_files("describe", image=fake.attachment(png_bytes()), count=2)
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    prompts = (await services.describe.described(1)).prompts
    click = fake.click("studio:dga:1")
    await fake.wait_for(lambda: click.followups, within=WAIT)
    note = fake.messages[click.followups[-1]]
    assert "Started 2 job(s): #2, #3." in note["content"] and note["flags"] & 64
    jobs = [await _done(services, 2), await _done(services, 3)]
    assert [j.request["prompt"] for j in jobs] == list(prompts)
    assert [j.request["count"] for j in jobs] == [1, 1]
    # The first job shows on the click's response, the second in its own channel message.
    await fake.wait_for(lambda: fake.original(click)["embeds"][0]["description"] == prompts[0], within=WAIT)
    await fake.wait_for(
        lambda: any(m["embeds"] and m["embeds"][0]["description"] == prompts[1] for m in fake.channel_messages()),
        within=WAIT,
    )


async def test_describe_message_command_on_a_user_image_and_on_a_bot_result(fake, bot, services) -> None:
    posted = fake.user_message([fake.attachment(b"not an image", "notes.txt"), fake.attachment(png_bytes())])
    ix = fake.message_command("Describe", posted)
    message = await fake.wait_for(lambda: fake.original(ix)["embeds"] and fake.original(ix), within=WAIT)
    assert _ids(message)[-1] == "studio:dga:1" and len(_ids(message)) == 5  # 4 prompts by default

    vary = fake.slash_with_files("vary", image=fake.attachment(png_bytes()), instruction="make it anime", count=1)
    await fake.wait_for(lambda: fake.original(vary)["embeds"], within=WAIT)
    result = fake.original(vary)
    again = fake.message_command("Describe", result)
    await fake.wait_for(lambda: fake.original(again)["embeds"], within=WAIT)
    job = await services.db.jobs.get(3)
    assert job.kind == "describe" and job.status == "done"

    nothing = fake.user_message([fake.attachment(b"plain text", "readme.txt")])
    refused = fake.message_command("Describe", nothing)
    await fake.wait_for(lambda: refused.followups, within=WAIT)
    assert "has no image" in fake.messages[refused.followups[0]]["content"]


async def test_vary_shows_the_output_prompt_and_the_same_buttons_as_generate(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes()), instruction="make it a watercolor", count=2, strength=0.5
    )
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(ix)["content"] or ""), within=WAIT)
    message = fake.original(ix)
    job = await _done(services, 1)
    assert job.kind == "vary" and job.status == "done"
    prompt = job.result["prompt"]  # the job's outcome: the output prompt composed from the instruction
    assert "watercolor painting" in prompt
    assert message["content"] == f"Output prompt: {prompt}"
    assert message["embeds"][0]["description"] == prompt
    assert [n for n, _ in message["_files"]] == ["job1_grid.png", "job1_1.png", "job1_2.png"]
    ids = _ids(message)
    assert "studio:reroll:1" in ids and any(i.startswith("studio:v:1:") for i in ids)
    images = await services.db.images.for_job(1)
    assert {i.prompt for i in images} == {prompt}
    assert {i.params["mode"] for i in images} == {"img2img"} and {i.params["strength"] for i in images} == {0.5}
    with Image.open(images[0].path) as png:
        assert png.info["parameters"].startswith(prompt)


async def test_vary_without_strength_uses_the_composer_hint(fake, bot, services) -> None:
    ix = fake.slash_with_files("vary", image=fake.attachment(png_bytes()), instruction="as pixel art", count=1)
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    job = await _done(services, 1)
    assert job.result["strength"] == pytest.approx(0.75)  # the composer's strength for a style change


async def test_edit_with_an_uploaded_mask_delivers_the_mask_overlay(fake, bot, services) -> None:
    ix = fake.slash_with_files(
        "edit", image=fake.attachment(png_bytes()), instruction="a red umbrella", mask=fake.attachment(mask_bytes())
    )
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    job = await _done(services, 1)
    assert job.kind == "edit" and job.request["mode"] == "inpaint"
    names = [n for n, _ in fake.original(ix)["_files"]]
    assert names[-1] == "job1_mask_overlay.png" and "job1_grid.png" in names
    overlay = Image.open(io.BytesIO(fake.cdn[fake.original(ix)["attachments"][-1]["id"]])).convert("RGB")
    inside, outside = overlay.getpixel((36, 28)), overlay.getpixel((80, 50))  # both red in the source
    assert inside[0] > outside[0] and inside[1] < outside[1]  # the masked square is tinted redder
    images = await services.db.images.for_job(1)
    assert {i.params["mode"] for i in images} == {"inpaint"}


async def test_edit_with_a_region_computes_the_mask(fake, bot, services) -> None:
    ix = fake.slash_with_files("edit", image=fake.attachment(png_bytes()), instruction="a storm", region="the sky")
    await fake.wait_for(lambda: fake.original(ix)["embeds"], within=WAIT)
    job = await _done(services, 1)
    assert job.result["mask_image"].endswith("mask.png")
    assert "job1_mask_overlay.png" in [n for n, _ in fake.original(ix)["_files"]]


async def test_edit_refuses_a_region_the_segmenter_cannot_find(fake, bot, services, monkeypatch) -> None:
    segmenter = services.host.segmenter()
    monkeypatch.setattr(segmenter, "threshold", 0.999999)  # the tiny model never gets that sure
    ix = fake.slash_with_files("edit", image=fake.attachment(png_bytes()), instruction="a moon", region="the moon")
    await fake.wait_for(lambda: "Could not find" in (fake.original(ix)["content"] or ""), within=WAIT)
    assert "could not find 'the moon' in the image: draw a mask instead" in fake.original(ix)["content"].lower()
    assert (await services.db.jobs.get(1)).status == "failed"


@pytest.mark.parametrize("give", ["both", "neither"])
async def test_edit_needs_exactly_one_of_mask_and_region(fake, bot, give) -> None:
    values = {"mask": fake.attachment(mask_bytes()), "region": "the sky"} if give == "both" else {}
    ix = fake.slash_with_files("edit", image=fake.attachment(png_bytes()), instruction="x", **values)
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    reply = fake.messages[ix.followups[0]]
    assert "exactly one of `mask`" in reply["content"] and reply["flags"] & 64
    assert fake.downloads == []  # nothing was downloaded for a request that cannot run


def _bomb() -> bytes:
    return _png_claiming(20000, 20000)


@pytest.mark.parametrize(
    ("data", "filename", "needle"),
    [
        (b"\x00\x01binary junk" * 20, "photo.jpg", "not a supported image"),
        (b"just some text, honestly\n" * 10, "cat.png", "not a supported image"),
        (_bomb(), "bomb.png", "too many pixels"),
        (png_bytes((200, 150))[:300], "cut.png", "truncated or damaged"),
        (b"", "empty.png", "empty"),
    ],
)
async def test_bad_images_are_refused_with_a_clear_message(fake, bot, services, data, filename, needle) -> None:
    ix = fake.slash_with_files("describe", image=fake.attachment(data, filename))
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    reply = fake.messages[ix.followups[0]]
    assert needle in reply["content"] and reply["flags"] & 64
    assert await services.db.jobs.get(1) is None


async def test_too_large_an_attachment_is_refused_before_downloading(fake, bot, services) -> None:
    big = fake.attachment(png_bytes(), size=25 * 1024 * 1024)
    ix = fake.slash_with_files("vary", image=big, instruction="make it blue")
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    assert "too large" in fake.messages[ix.followups[0]]["content"]
    assert fake.downloads == []


@pytest.mark.parametrize("count", [0, 9])
async def test_a_count_out_of_range_is_refused_before_downloading(fake, bot, services, count) -> None:
    ix = fake.slash_with_files("describe", image=fake.attachment(png_bytes()), count=count)
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    assert "Count must be a whole number from 1 to 8" in fake.messages[ix.followups[0]]["content"]
    assert fake.downloads == [] and await services.db.jobs.get(1) is None
