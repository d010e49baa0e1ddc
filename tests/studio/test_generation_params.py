"""Every generation setting survives the core's layers: the front door's input, the stored request, the engine's
request, and a reroll's draft. The settings pass on by name, so a new one is covered here without a line of its own
in the core; this test fails until the new setting has a sample value below."""

from __future__ import annotations

from dataclasses import fields

import pytest

from engine import GenerationParams
from studio.images.api import GenerateInput
from tests.studio.conftest import ALICE

# A value for each setting, none of them the model's default (tiny-sd: 4 images, 64 px, 2+ steps, ddim).
SAMPLES = {
    "negative": "blurry",
    "count": 2,
    "seed": 11,
    "width": 64,
    "height": 96,
    "steps": 3,
    "guidance": 5.5,
    "scheduler": "euler",
    "extras": {"clip_skip": 2},  # SD 1.5's own setting (engine/families/sd15/clip_skip.py)
}
# Settings a text-to-image job cannot carry as given, and where they are tested instead.
ELSEWHERE = {
    "aspect": "becomes width and height (tests/engine/test_catalog.py)",
    "strength": "needs an image (tests/bot/images/test_cli_and_services.py)",
}


def test_every_setting_has_a_sample_here() -> None:
    names = {f.name for f in fields(GenerationParams)}
    assert set(SAMPLES) | set(ELSEWHERE) == names, "give the new setting a sample value in SAMPLES"


async def test_every_setting_reaches_the_engine_and_a_reroll_keeps_it(services, delivery, host) -> None:
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="a fox", model="tiny-sd", **SAMPLES))
    job = await services.jobs.wait(ticket.job_id, limit_s=60)
    assert job.status == "done", job.error
    sent = host.manager().calls[-1]
    for name, value in SAMPLES.items():
        assert job.request[name] == value, name  # stored with the job
        assert getattr(sent, name) == value, name  # what the engine was asked

    again = await services.followups.reroll(ALICE, ticket.job_id)
    rerun = await services.jobs.wait(again.job_id, limit_s=60)
    sent = host.manager().calls[-1]
    for name, value in SAMPLES.items():
        if name != "seed":  # a reroll draws a new seed
            assert rerun.request[name] == value and getattr(sent, name) == value, name
    assert rerun.request["seed"] != SAMPLES["seed"]


async def test_a_family_setting_is_shown_with_its_image_and_in_the_models_list(services, delivery) -> None:
    from tests.studio.gallery_seed import viewer

    await services.jobs.start()
    options = GenerateInput(prompt="an anime fox", model="tiny-sd", steps=2, count=1, extras={"clip_skip": "2"})
    job = await services.jobs.wait((await services.generate.submit(ALICE, options)).job_id, limit_s=60)
    image = (await services.db.images.for_job(job.id))[0]
    assert image.params["extras"] == {"clip_skip": 2}  # typed by the family's check
    assert (await services.gallery.detail(viewer(ALICE, ALICE.channel_id), image.id)).settings == "clip_skip=2"
    catalog = {info.name: info for info in await services.models.catalog()}
    assert catalog["tiny-sd"].settings[0].startswith("clip_skip (a whole number from 1 to 4)")
    assert catalog["tiny-flux"].settings == ()


async def test_a_setting_the_family_lacks_is_refused_when_queued(services) -> None:
    from studio.errors import StudioError

    with pytest.raises(StudioError, match="FLUX models take no setting 'clip_skip'"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a fox", model="tiny-flux", extras={"clip_skip": 2}))
    assert await services.db.jobs.list_active() == []
