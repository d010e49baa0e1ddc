"""FLUX.2 [klein] through discord.py's real code, the real services and the engine on tiny-flux2: /generate, /vary
from the uploaded image, and /charactersheet whose later panels receive the best panels so far as references."""

from __future__ import annotations

from typing import Any

import pytest

from engine.diffusion.pipelines import PipelineManager
from studio.settings import Settings
from tests.bot.conftest import job_of
from tests.bot.fakediscord import USER_ID
from tests.bot.images.conftest import png_bytes, with_engine

WAIT = 60.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_engine(settings, embedder="tiny-clip")  # the sheet ranks its panels by their embeddings


async def test_generate_and_vary_on_klein(fake, bot, services) -> None:
    ix = fake.slash("generate", prompt="a red lighthouse", count=2, steps=2, model="tiny-flux2", seed=11)
    job = await services.jobs.wait(await job_of(fake, ix), WAIT)
    assert job.status == "done", job.error
    assert [i.seed for i in await services.db.images.for_job(job.id)] == [11, 12]
    vary = fake.slash_with_files(
        "vary", image=fake.attachment(png_bytes((128, 64))), instruction="make it a watercolor", count=1,
        model="tiny-flux2",
    )  # fmt: skip
    await fake.wait_for(lambda: "Output prompt:" in (fake.original(vary)["content"] or ""), within=WAIT)
    varied = await services.jobs.wait(job.id + 1, WAIT)
    assert varied.kind == "vary" and varied.status == "done", varied.error
    assert varied.result["prompt"] == "make it a watercolor"  # the instruction itself, edited from the upload
    (image,) = await services.db.images.for_job(varied.id)
    assert image.params["mode"] == "instruct" and (image.width, image.height) == (96, 48)


async def test_a_sheet_on_klein_gives_later_panels_several_references(fake, bot, services, monkeypatch) -> None:
    references: list[int] = []
    real = PipelineManager._call_pipeline

    def spy(self: Any, pipe: Any, **kwargs: Any) -> Any:
        references.append(len(kwargs["image"]))
        return real(self, pipe, **kwargs)

    monkeypatch.setattr(PipelineManager, "_call_pipeline", spy)
    ix = fake.slash("charactersheet", image=fake.attachment(png_bytes((96, 128))), count=8, model="tiny-flux2")
    await fake.wait_for(lambda: ix.followups, within=WAIT)
    assert (
        "Method: instructions on the reference and the best panels so far." in fake.messages[ix.followups[0]]["content"]
    )
    jobs = sorted(j.id for j in await services.db.jobs.list_for_user(USER_ID, 20) if j.kind == "sheet")
    for job_id in jobs:
        assert (await services.jobs.wait(job_id, WAIT)).status == "done"
    # Four groups of two panels: the first from the reference alone, the second from it and the first panel.
    assert references == [1, 2] * 4
    images = await services.db.images.for_job(jobs[3])
    assert {i.params["mode"] for i in images} == {"instruct"} and len(images) == 2
