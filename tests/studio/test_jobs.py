"""The queue and the generate kind on the fake engine: run, deliver, follow-ups, refusals, fairness, restarts."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from studio.contract import Caller
from studio.errors import NotFound, Refused, StudioError
from studio.images.api import GenerateInput
from tests.studio.conftest import ALICE, BOB, GUILD, MOD, RecordingDelivery, reopen, show_everything

FAST = {"steps": 2, "model": "tiny-sd"}


async def _run(services, caller: Caller, **options):
    ticket = await services.generate.submit(caller, GenerateInput(**{**FAST, **options}))
    job = await services.jobs.wait(ticket.job_id, limit_s=60)
    return ticket, job


async def test_generate_end_to_end(services, delivery) -> None:
    await services.jobs.start()
    ticket, job = await _run(services, ALICE, prompt="a red fox", count=2, seed=7)
    assert job.status == "done" and job.delivered
    assert delivery.kinds(ticket.job_id)[0] == "queued"
    assert "progress" in delivery.kinds(ticket.job_id)
    assert delivery.kinds(ticket.job_id)[-1] == "delivered"
    result = delivery.results[ticket.job_id]
    assert [i.seed for i in result.images] == [7, 8]
    assert result.grid_path is not None and result.grid_path.exists()
    with Image.open(result.images[1].path) as img:
        assert "Seed: 8" in img.info["parameters"]
        assert img.info["parameters"].startswith("a red fox")
    images = await services.db.images.for_job(ticket.job_id)
    posted = await services.db.posts.for_message(job.message_id)
    assert [(p.number, p.image_id, p.role) for p in posted] == [(1, images[0].id, "grid"), (2, images[1].id, "grid")]
    assert await services.db.usage.images_on(ALICE.user_id, GUILD) == 2
    assert (await services.followups.result(ticket.job_id)).images == result.images


async def test_defaults_come_from_the_model(services, delivery) -> None:
    await services.jobs.start()
    ticket, job = await _run(services, ALICE, prompt="a boat", steps=None)
    assert job.request["count"] == 4
    assert job.request["steps"] > 0 and job.request["width"] > 0
    assert len(delivery.results[ticket.job_id].images) == 4


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"prompt": ""}, "empty"),
        ({"prompt": "   "}, "empty"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"prompt": "a cat", "model": "no-such-model"}, "Unknown model"),
        ({"prompt": "a cat", "count": 3}, "count"),
        ({"prompt": "a cat", "steps": 100000}, "step"),
        ({"prompt": "a cat", "guidance": -5.0}, "guidance"),
        ({"prompt": "a cat", "aspect": "5:4"}, "aspect"),
        ({"prompt": "a cat", "scheduler": "warp-drive"}, "scheduler"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_queued(services, delivery, options, needle) -> None:
    with pytest.raises(StudioError) as info:
        await services.generate.submit(ALICE, GenerateInput(**{**FAST, **options}))
    assert needle.lower() in info.value.message.lower()
    assert await services.db.jobs.fair_queue() == []


async def test_guild_policy_refusals(services, delivery) -> None:
    await services.db.guild_settings.update(
        GUILD, max_count=2, max_steps=3, blocked_words=("dragon",), allowed_role_ids=(), daily_quota=3
    )
    with pytest.raises(Refused, match="at most 2 images"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=4, **FAST))
    with pytest.raises(Refused, match="at most 3 steps"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, steps=4, model="tiny-sd"))
    with pytest.raises(Refused, match="blocks"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a Dragon!", count=1, **FAST))
    with pytest.raises(Refused, match="adult"):
        await services.generate.submit(ALICE, GenerateInput(prompt="nude statue", count=1, **FAST))
    await services.jobs.start()
    await _run(services, ALICE, prompt="a cat", count=2)
    with pytest.raises(Refused, match="Daily quota"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=2, **FAST))
    await services.db.guild_settings.update(GUILD, allowed_role_ids=(555,))
    with pytest.raises(Refused, match="roles"):
        await services.generate.submit(BOB, GenerateInput(prompt="a cat", count=1, **FAST))
    allowed = dataclasses.replace(BOB, role_ids=(555,))
    ticket = await services.generate.submit(allowed, GenerateInput(prompt="a cat", count=1, **FAST))
    assert (await services.jobs.wait(ticket.job_id, limit_s=60)).status == "done"


async def test_nsfw_spoiler_policy_marks_results(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, nsfw_policy="spoiler")
    await services.jobs.start()
    ticket, _ = await _run(services, ALICE, prompt="nude statue in marble", count=1)
    assert delivery.results[ticket.job_id].spoiler is True


async def test_dms_refused_unless_allowed(services, delivery) -> None:
    with pytest.raises(Refused, match="DMs"):
        await services.generate.submit(Caller(user_id=9), GenerateInput(prompt="a cat", **FAST))


async def test_concurrent_cap(services, delivery) -> None:
    # Not started: jobs stay queued, so the cap is what refuses the third.
    for _ in range(2):
        await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, **FAST))
    with pytest.raises(Refused, match="waiting or running"):
        await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, **FAST))


async def test_a_flood_from_one_user_does_not_starve_another(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, max_concurrent_per_user=10)
    flood = [await services.generate.submit(ALICE, GenerateInput(prompt=f"cat {i}", count=1, **FAST)) for i in range(4)]
    bob = await services.generate.submit(BOB, GenerateInput(prompt="dog", count=1, **FAST))
    assert bob.position == 1  # right after Alice's first, not fifth
    await services.jobs.start()
    for ticket in [*flood, bob]:
        await services.jobs.wait(ticket.job_id, limit_s=120)
    order = delivery.delivered_order()
    assert order.index(bob.job_id) == 1


async def test_cancel_queued_and_running(services, delivery) -> None:
    queued = await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, **FAST))
    with pytest.raises(Refused, match="Only the person"):
        await services.jobs.cancel(BOB, queued.job_id)
    await services.jobs.cancel(ALICE, queued.job_id)
    assert (await services.db.jobs.get(queued.job_id)).status == "cancelled"
    assert delivery.kinds(queued.job_id)[-1] == "cancelled"

    await services.jobs.start()
    running = await services.generate.submit(BOB, GenerateInput(prompt="a dog", count=1, steps=40, model="tiny-sd"))
    for _ in range(400):
        if "progress" in delivery.kinds(running.job_id):
            break
        await __import__("asyncio").sleep(0.02)
    await services.jobs.cancel(MOD, running.job_id)  # a moderator may cancel anyone's job
    job = await services.jobs.wait(running.job_id, limit_s=60)
    assert job.status == "cancelled"
    assert delivery.kinds(running.job_id)[-1] == "cancelled"
    with pytest.raises(Refused, match="already ended"):
        await services.jobs.cancel(BOB, running.job_id)


async def test_reroll_remix_vary_upscale_delete(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, max_concurrent_per_user=10)
    await services.jobs.start()
    first, _ = await _run(services, ALICE, prompt="a castle", count=2, seed=100)
    assert await services.followups.remix_prompt(first.job_id) == "a castle"

    reroll = await services.followups.reroll(BOB, first.job_id)
    rerolled = await services.jobs.wait(reroll.job_id, limit_s=60)
    assert rerolled.request["prompt"] == "a castle" and rerolled.request["seed"] != 100
    assert rerolled.requester_id == BOB.user_id

    remix = await services.followups.remix(ALICE, first.job_id, "a castle in snow")
    assert (await services.jobs.wait(remix.job_id, limit_s=60)).request["prompt"] == "a castle in snow"

    vary = await services.followups.vary(ALICE, first.job_id, 1, "strong")
    varied = await services.jobs.wait(vary.job_id, limit_s=60)
    assert varied.status == "done" and varied.kind == "vary"
    assert varied.request["mode"] == "img2img" and varied.request["strength"] == 0.7
    assert delivery.results[vary.job_id].note.startswith("Variation (strong) of image 2")

    subtle = await services.followups.vary(ALICE, first.job_id, 0, "subtle")  # 0.35 × 2 steps: still one step runs
    subtly = await services.jobs.wait(subtle.job_id, limit_s=60)
    assert subtly.status == "done"
    assert delivery.results[subtle.job_id].steps == 3

    single = await services.followups.upscale(BOB, first.job_id, 1)
    assert single.seed == 101 and single.path.exists()
    with pytest.raises(NotFound):
        await services.followups.upscale(BOB, first.job_id, 5)

    with pytest.raises(Refused):
        await services.followups.delete(BOB, first.job_id)
    await services.followups.delete(MOD, first.job_id)
    with pytest.raises(NotFound, match="no longer exists"):
        await services.followups.reroll(ALICE, 99999)


async def test_queue_view(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, max_concurrent_per_user=10)
    a = await services.generate.submit(ALICE, GenerateInput(prompt="one", count=1, **FAST))
    b = await services.generate.submit(BOB, GenerateInput(prompt="two", count=1, **FAST))
    view = await services.jobs.queue(BOB)
    assert [e.job_id for e in view.waiting] == [a.job_id, b.job_id]
    assert [e.job_id for e in view.mine] == [b.job_id]
    assert view.mine[0].position == 1 and view.mine[0].eta_s is not None


async def test_restart_requeues_a_running_job_once_and_delivers_it_once(services, settings, host, delivery) -> None:
    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, **FAST))
    await services.db.jobs.start(ticket.job_id)  # the process 'crashes' while it runs
    # New services on the same database, as after a restart.
    fresh = RecordingDelivery()
    async with reopen(settings, host) as restarted:
        show_everything(restarted, fresh)
        await restarted.jobs.start()
        job = await restarted.jobs.wait(ticket.job_id, limit_s=60)
    assert job.status == "done" and job.attempts == 2
    assert fresh.delivered_order() == [ticket.job_id]

    # Delivered before a crash → marked done at the next start, never posted again.
    second = await services.generate.submit(ALICE, GenerateInput(prompt="a dog", count=1, **FAST))
    await services.db.jobs.start(second.job_id)
    await services.db.jobs.mark_delivered(second.job_id, 1234)
    again = RecordingDelivery()
    async with reopen(settings, host) as restarted:
        show_everything(restarted, again)
        await restarted.jobs.start()
        assert (await restarted.db.jobs.get(second.job_id)).status == "done"
    assert again.delivered_order() == []


async def test_clean_shutdown_requeues_the_running_job(services, settings, host, delivery) -> None:
    import asyncio

    await services.jobs.start()
    options = GenerateInput(prompt="a cat", count=1, steps=40, model="tiny-sd")
    ticket = await services.generate.submit(ALICE, options)
    for _ in range(500):
        if "progress" in delivery.kinds(ticket.job_id):
            break
        await asyncio.sleep(0.02)
    await services.jobs.stop()
    job = await services.db.jobs.get(ticket.job_id)
    assert job.status == "queued"
    assert job.attempts == 0
    assert "cancelled" not in delivery.kinds(ticket.job_id)

    after = RecordingDelivery()
    async with reopen(settings, host) as restarted:
        show_everything(restarted, after)
        await restarted.jobs.start()
        assert (await restarted.jobs.wait(ticket.job_id, limit_s=120)).status == "done"
    assert after.delivered_order() == [ticket.job_id]


async def test_cancel_racing_the_dispatcher_never_cancels_a_job_the_worker_runs(services, delivery, caplog) -> None:
    """The dispatcher may start a queued job between cancel's read of it and its update."""
    import asyncio

    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="a cat", count=1, **FAST))
    repo = services.db.jobs
    real_cancel = repo.cancel

    async def cancel_after_the_dispatcher_ran(job_id: int) -> bool:
        await services.jobs.start()  # the dispatcher wakes up right now
        await asyncio.sleep(0.3)
        return await real_cancel(job_id)

    repo.cancel = cancel_after_the_dispatcher_ran
    try:
        await services.jobs.cancel(ALICE, ticket.job_id)
    finally:
        repo.cancel = real_cancel
    job = await services.jobs.wait(ticket.job_id, limit_s=60)
    for _ in range(3000):  # a job the worker ran anyway comes back when the worker is free again
        if services.backend.free_slots() > 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert job.status == "cancelled"
    assert delivery.kinds(ticket.job_id)[-1] == "cancelled"
    assert "delivered" not in delivery.kinds(ticket.job_id)
    assert (await repo.get(ticket.job_id)).status == "cancelled"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
