"""LoRA training in the services, on the real tiny engine: plan, start, result, registration, cancel, resume."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image

from engine.host import EngineConfig, EngineHost
from studio.container import Services, open_services
from studio.contract import Caller
from studio.errors import Refused
from studio.images.api import GenerateInput
from studio.training.api import TrainOverrides
from studio.training.plans import StoredPlan
from studio.training.results import CheckpointPost, TrainingResult
from tests.engine.training_support import planted_images
from tests.studio.conftest import ALICE, BOB, GUILD, MOD, RecordingDelivery, settle, show_everything

pytestmark = pytest.mark.slow

MANAGER = Caller(user_id=1, guild_id=GUILD, channel_id=7, may_manage_server=True)


def _host(tiny_manager) -> EngineHost:
    return EngineHost(EngineConfig(captioner="tiny-blip", embedder="tiny-clip"), manager_factory=lambda: tiny_manager)


@pytest.fixture
async def studio(settings, tiny_manager) -> AsyncIterator[tuple[Services, RecordingDelivery]]:
    async with open_services(settings, host=_host(tiny_manager)) as services:
        delivery = RecordingDelivery()
        show_everything(services, delivery)
        await services.db.guild_settings.update(GUILD, min_training_images=4)
        await services.jobs.start()
        yield services, delivery


async def _set(services: Services, tmp_path, name: str = "mila", count: int = 4) -> None:
    await services.trainsets.create(MANAGER, name, trigger_word="zzmila")
    for item in planted_images(tmp_path / name, count):
        buffer = io.BytesIO()
        Image.open(item.path).save(buffer, format="PNG")
        await services.trainsets.add(MANAGER, buffer.getvalue(), name)
    await settle(services)  # the captions


async def _reached(delivery: RecordingDelivery, job_id: int, step: int) -> None:
    """Wait until the job reported `step` (the recording port keeps calls; it has no event to wait on)."""

    async def poll() -> None:
        while not any(k == "progress" and j == job_id and s[0] >= step for k, j, s in delivery.calls):  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 120)


async def _train(services: Services, caller: Caller = MANAGER, **options) -> tuple[int, int]:
    plan = await services.training.plan(
        caller, "mila", options.pop("name", "Mila"), TrainOverrides(steps=options.pop("steps", 4))
    )
    ticket = await services.training.start(caller, plan.run_id)
    return plan.run_id, ticket.job_id


async def test_a_run_goes_from_plan_to_a_registered_model_in_the_picker(studio, tmp_path) -> None:
    services, delivery = studio
    await _set(services, tmp_path)
    plan = await services.training.plan(MANAGER, "mila", "Mila", TrainOverrides(steps=4, rank=8))
    assert plan.model_name == "Mila" and plan.trigger_word == "zzmila" and plan.images == 4
    rows = {row.label: row for row in plan.rows}
    assert rows["Steps"].value == "4" and rows["Steps"].source == "you"
    assert rows["Rank (alpha)"].value == "8 (8)" and rows["Batch size"].source == "model preset"
    assert plan.estimate_s > 0 and plan.disk_bytes > 0 and plan.memory_gb is None  # the CPU: nothing sized
    ticket = await services.training.start(MANAGER, plan.run_id)
    with pytest.raises(Refused, match="already started"):
        await services.training.start(MANAGER, plan.run_id)  # a second click
    done = await services.jobs.wait(ticket.job_id, limit_s=300)
    assert done.status == "done", done.error
    result = delivery.results[ticket.job_id]
    assert isinstance(result, TrainingResult) and not result.stopped
    assert (result.model_name, result.steps_done, result.total_steps) == ("Mila", 4, 4)
    assert [c.step for c in result.checkpoints] == [1, 2, 3, 4] and result.checkpoints[-1].chosen
    assert result.scales_path.is_file() and result.loss_plot_path.is_file() and result.kohya_path.is_file()
    # Progress showed the loss; each checkpoint's grid was posted on its own, for votes.
    assert "Training" in delivery.labels
    posts = [item for kind, job_id, item in delivery.calls if kind == "posted" and job_id == ticket.job_id]
    assert [p.number for p in posts] == [1, 2, 3, 4] and all(isinstance(p, CheckpointPost) for p in posts)
    # The model: first in the picker, with its base and trigger word; a generation with it differs from the base.
    choices = await services.models.autocomplete("")
    assert choices[0].value == "mila" and "LoRA on tiny-sd" in choices[0].label
    resolved = await services.models.resolve("mila")
    assert resolved.spec.name == "tiny-sd" and resolved.trigger_word == "zzmila" and resolved.loras
    catalog = {info.name: info for info in await services.models.catalog()}
    assert catalog["mila"].trigger_word == "zzmila"
    assert "checkpoint of step 4 (consistency 0." in catalog["mila"].description  # /models compares runs
    with_lora = await _image(services, "mila", 1.0)
    base = await _image(services, "tiny-sd", None, "zzmila, a round figure")  # the trigger word, as the LoRA adds
    assert np.abs(with_lora - base).max() > 0.0
    np.testing.assert_array_equal(await _image(services, "mila", 0.0), base)
    # The run's copies of the images are gone once it ended (only a running or resumed run needs them).
    assert not (services.training.registry.run_dir(plan.run_id) / "data").exists()
    assert await services.db.training_runs.items(plan.run_id) == []
    # /train list shows the run with its scores.
    (info,) = await services.training.list(MANAGER)
    assert (info.status, info.model_name, info.steps_done, info.chosen_step) == ("done", "Mila", 4, 4)
    assert info.best_consistency is not None


async def _image(services: Services, model: str, scale: float | None, prompt: str = "a round figure") -> np.ndarray:
    generate = GenerateInput(prompt=prompt, model=model, count=1, seed=3, steps=2, lora_scale=scale)
    ticket = await services.generate.submit(MANAGER, generate)
    job = await services.jobs.wait(ticket.job_id, limit_s=120)
    assert job.status == "done", job.error
    image = (await services.db.images.for_job(ticket.job_id))[0]
    with Image.open(image.path) as png:
        return np.asarray(png.convert("RGB"), dtype=np.int16)


async def test_votes_and_a_chosen_checkpoint_switch_the_models_weights(studio, tmp_path) -> None:
    services, _ = studio
    await _set(services, tmp_path)
    run_id, job_id = await _train(services)
    await services.jobs.wait(job_id, limit_s=300)
    message_ids = [c.message_id for c in await services.db.training_runs.checkpoints(run_id)]
    assert all(message_ids)
    assert await services.training.vote(message_ids[1], BOB.user_id, up=True)
    assert await services.training.vote(message_ids[1], ALICE.user_id, up=True)
    assert not await services.training.vote(999_999, BOB.user_id, up=True)  # not a checkpoint's message
    lora_file = services.settings.loras_dir / "mila.safetensors"
    before = lora_file.read_bytes()
    with pytest.raises(Refused, match="Only the member who started"):
        await services.training.choose(BOB, run_id, 2)
    result = await services.training.choose(MANAGER, run_id, 2)
    await services.training.choose(MANAGER, run_id, 2)  # twice: the same model, no second name
    assert [c.votes for c in result.checkpoints] == [0, 2, 0, 0]
    assert [c.chosen for c in result.checkpoints] == [False, True, False, False]
    assert lora_file.read_bytes() != before
    assert (await services.db.models.get("mila")).config["step"] == 2
    assert [m.name for m in await services.db.models.list(kind="lora")] == ["mila"]
    from safetensors import safe_open

    with safe_open(str(services.settings.loras_dir / "mila_kohya.safetensors"), "pt") as f:
        assert f.metadata()["ss_steps"] == "2"


async def test_a_taken_name_gets_a_version_and_one_run_at_a_time_per_server(studio, tmp_path) -> None:
    services, delivery = studio
    await _set(services, tmp_path)
    _, first = await _train(services, steps=12)
    with pytest.raises(Refused, match="already running or waiting in this server"):
        await services.training.plan(MANAGER, "mila", "other")
    await services.jobs.wait(first, limit_s=300)
    plan = await services.training.plan(MANAGER, "mila", "mila", TrainOverrides(steps=2))
    assert plan.model_name == "mila-v2" and plan.requested_name == "mila"
    ticket = await services.training.start(MANAGER, plan.run_id)
    await services.jobs.wait(ticket.job_id, limit_s=300)
    assert delivery.results[ticket.job_id].model_name == "mila-v2"
    run = await services.db.training_runs.get(plan.run_id)
    assert StoredPlan.from_json(run.plan).lineage["retrain_of"] == "mila"


async def test_who_may_train_is_a_server_setting(studio, tmp_path) -> None:
    services, _ = studio
    await _set(services, tmp_path)
    with pytest.raises(Refused, match="needs Manage Server"):
        await services.training.plan(BOB, "mila", "bobs")
    await services.db.guild_settings.update(GUILD, trainer_role_ids=(555,))
    trainer = Caller(user_id=2, guild_id=GUILD, channel_id=7, role_ids=(555,))
    plan = await services.training.plan(trainer, "mila", "bobs", TrainOverrides(steps=2, optimizer="prodigy"))
    rows = {row.label: row for row in plan.rows}
    assert (rows["Optimizer"].value, rows["Optimizer"].source) == ("prodigy", "you")
    assert (rows["Learning rate"].value, rows["Learning rate"].source) == ("1", "the optimizer's default")
    assert rows["Precision"].value == "fp32" and rows["Precision"].source == "the engine's precision"
    assert rows["Text encoder"].value == "frozen (UNet only)"
    with_text = await services.training.plan(trainer, "mila", "bobs2", TrainOverrides(steps=2, train_text_encoder=True))
    assert {row.label: row.value for row in with_text.rows}["Text encoder"] == "trained too"
    await services.training.drop(trainer, with_text.run_id)
    with pytest.raises(Refused, match="Only the member who started"):
        await services.training.start(ALICE, plan.run_id)
    await services.training.drop(trainer, plan.run_id)
    with pytest.raises(Refused, match="already started or cancelled"):
        await services.training.start(trainer, plan.run_id)


async def test_the_plan_shows_prior_preservation_and_the_models_own_sample_prompts(studio, tmp_path) -> None:
    services, _ = studio
    await _set(services, tmp_path)
    plain = await services.training.plan(MANAGER, "mila", "plain", TrainOverrides(steps=2), base_model="tiny-sd")
    row = {row.label: row for row in plain.rows}["Prior preservation"]
    assert (row.value, row.source) == ("off", "model preset")  # opt-in on a model of people and things
    stored = StoredPlan.from_json((await services.db.training_runs.get(plain.run_id)).plan).config
    assert stored.sample_prompts[0] == "zzmila, portrait photo, looking at the camera"
    await services.training.drop(MANAGER, plain.run_id)
    asked = await services.training.plan(
        MANAGER, "mila", "asked", TrainOverrides(steps=2, prior_images=6), base_model="tiny-sd"
    )
    row = {row.label: row for row in asked.rows}["Prior preservation"]
    assert row.source == "you" and row.value.startswith("6 images the base model draws from the set's captions")
    await services.training.drop(MANAGER, asked.run_id)
    world = await services.training.plan(MANAGER, "mila", "world", TrainOverrides(steps=2), base_model="tiny-world")
    row = {row.label: row for row in world.rows}["Prior preservation"]
    assert row.source == "model preset" and row.value.startswith("40 images the base model draws from the model's own")
    stored = StoredPlan.from_json((await services.db.training_runs.get(world.run_id)).plan).config
    assert stored.sample_prompts[0] == "zzmila, a zzmila on a blue background"  # the world's grammar
    await services.training.drop(MANAGER, world.run_id)


async def test_cancel_keeps_a_checkpoint_that_can_be_registered(studio, tmp_path) -> None:
    services, delivery = studio
    await _set(services, tmp_path)
    run_id, job_id = await _train(services, steps=200)
    await _reached(delivery, job_id, 3)
    with pytest.raises(Refused, match="Only the member who started"):
        await services.training.cancel(BOB)
    await services.training.cancel(MOD)  # a moderator may stop anyone's run
    done = await services.jobs.wait(job_id, limit_s=120)
    assert done.status == "done"
    result = delivery.results[job_id]
    assert result.stopped and result.model_name is None and 3 <= result.steps_done < 200
    assert await services.db.models.get("mila") is None
    registered = await services.training.choose(MANAGER, run_id, result.checkpoints[-1].step)
    assert registered.model_name == "Mila" and (await services.models.resolve("mila")).loras
    (info,) = await services.training.list(MANAGER)
    assert info.status == "stopped" and info.model_name == "Mila"


async def test_a_run_stopped_by_a_restart_resumes_from_its_checkpoint(settings, tiny_manager, tmp_path) -> None:
    async with open_services(settings, host=_host(tiny_manager)) as services:
        delivery = RecordingDelivery()
        show_everything(services, delivery)
        await services.db.guild_settings.update(GUILD, min_training_images=4)
        await services.jobs.start()
        await _set(services, tmp_path)
        _, job_id = await _train(services, steps=40)
        await _reached(delivery, job_id, 5)
    # The shutdown stopped it between two steps, after saving a checkpoint; it waits in the queue.
    async with open_services(settings, host=_host(tiny_manager)) as services:
        job = await services.db.jobs.get(job_id)
        assert job.status == "queued"
        delivery = RecordingDelivery()
        show_everything(services, delivery)
        await services.jobs.start()
        done = await services.jobs.wait(job_id, limit_s=300)
        assert done.status == "done", done.error
        result = delivery.results[job_id]
        assert result.resumed_at is not None and result.resumed_at >= 5 and result.steps_done == 40
        assert result.model_name == "Mila"
        steps = [step for kind, jid, step in delivery.calls if kind == "progress" and jid == job_id]
        assert steps[0][0] == result.resumed_at + 1  # it went on from the checkpoint, not from step 1


async def test_a_generation_is_delivered_while_a_training_runs(studio, tmp_path) -> None:
    services, delivery = studio
    await _set(services, tmp_path)
    _, train_job = await _train(services, steps=200)
    await _reached(delivery, train_job, 1)
    ticket = await services.generate.submit(BOB, GenerateInput(prompt="a boat", model="tiny-sd", count=1, steps=2))
    done = await services.jobs.wait(ticket.job_id, limit_s=120)
    assert done.status == "done"
    assert (await services.db.jobs.get(train_job)).status == "running"  # the training goes on meanwhile
    await services.training.cancel(MANAGER)
    await services.jobs.wait(train_job, limit_s=120)


async def test_a_flux_lora_trains_registers_and_generates(studio, tmp_path) -> None:
    services, delivery = studio
    await services.trainsets.create(MANAGER, "fluxy", trigger_word="zzflux", base_model="tiny-flux")
    for item in planted_images(tmp_path / "fluxy", 4):
        buffer = io.BytesIO()
        Image.open(item.path).save(buffer, format="PNG")
        await services.trainsets.add(MANAGER, buffer.getvalue(), "fluxy")
    await settle(services)
    plan = await services.training.plan(MANAGER, "fluxy", "Fluxy", TrainOverrides(steps=4))
    assert plan.model_name == "Fluxy"  # as typed
    ticket = await services.training.start(MANAGER, plan.run_id)
    done = await services.jobs.wait(ticket.job_id, limit_s=300)
    assert done.status == "done", done.error
    result = delivery.results[ticket.job_id]
    assert isinstance(result, TrainingResult) and result.kohya_path.is_file()
    resolved = await services.models.resolve("fluxy")
    assert resolved.spec.name == "tiny-flux" and resolved.loras and resolved.loras[0].family == "flux"
    with_lora = await _image(services, "fluxy", 1.0)
    base = await _image(services, "tiny-flux", None, "zzflux, a round figure")
    assert np.abs(with_lora - base).max() > 0.0
    np.testing.assert_array_equal(await _image(services, "fluxy", 0.0), base)
