"""A plan's time estimate: a wide first guess, then a range from the pace this machine measured."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from PIL import Image

from engine import TrainConfig
from engine.host import EngineConfig, EngineHost
from storage.records import TrainingRun
from studio.container import Services, open_services
from studio.contract import Caller
from studio.training.api import TrainOverrides
from studio.training.pace import _predicted, estimate_range
from studio.training.plans import StoredPlan
from tests.engine.training_support import planted_images
from tests.studio.conftest import GUILD, RecordingDelivery, settle, show_everything

MANAGER = Caller(user_id=1, guild_id=GUILD, channel_id=7, may_manage_server=True)


def _run(guess_s: float, steps: int, steps_done: int, resumed_at: int | None, trainer_s: float) -> TrainingRun:
    plan = StoredPlan(
        config=TrainConfig(steps=steps),
        sources={},
        images=4,
        samples=steps,
        disk_bytes=0,
        memory_gb=None,
        budget_gb=None,
        guess_s=guess_s,
        estimate_s=123.0,
        estimate_range=(100.0, 150.0),
    ).to_json()
    result = {"steps_done": steps_done, "resumed_at": resumed_at, "elapsed_s": trainer_s}
    now = datetime.now(UTC)
    return TrainingRun(1, GUILD, 1, 1, "set", "out", "tiny-sd", "zz", plan, "done", 1, "out", steps, result, now, now)


def test_a_measured_run_predicts_its_fixed_part_plus_its_pace_times_the_new_guess() -> None:
    # Guessed 10 s for 4 steps; resumed at 2, it ran 2 steps in 20 s of training and 30 s of job:
    # 10 s fixed, and 4 measured seconds per guessed second (20 s / 5 guessed).
    run = _run(guess_s=10.0, steps=4, steps_done=4, resumed_at=2, trainer_s=20.0)
    assert _predicted(run, 30.0, guess_s=10.0) == pytest.approx(50.0)
    assert _predicted(run, 30.0, guess_s=20.0) == pytest.approx(90.0)  # twice the work: twice the pace part
    stopped_at_once = _run(guess_s=10.0, steps=4, steps_done=2, resumed_at=2, trainer_s=1.0)
    assert _predicted(stopped_at_once, 5.0, guess_s=10.0) is None  # it ran no step: it measured nothing


def test_a_range_reads_in_one_unit() -> None:
    assert estimate_range(70.2, 89.6) == "~70–90 s"
    assert estimate_range(80.0, 300.0) == "~1.3–5.0 min"
    assert estimate_range(3000.0, 9000.0) == "~0.8–2.5 h"


def _host(tiny_manager) -> EngineHost:
    return EngineHost(EngineConfig(captioner="tiny-blip", embedder="tiny-clip"), manager_factory=lambda: tiny_manager)


@pytest.fixture
async def studio(settings, tiny_manager) -> AsyncIterator[Services]:
    async with open_services(settings, host=_host(tiny_manager)) as services:
        show_everything(services, RecordingDelivery())
        await services.db.guild_settings.update(GUILD, min_training_images=4)
        await services.jobs.start()
        yield services


@pytest.mark.slow  # two plans and one run of the real tiny engine
async def test_a_second_plan_is_estimated_within_twice_the_first_run_s_measured_time(studio, tmp_path) -> None:
    services = studio
    await services.trainsets.create(MANAGER, "mila", trigger_word="zzmila")
    for item in planted_images(tmp_path / "mila", 4):
        buffer = io.BytesIO()
        Image.open(item.path).save(buffer, format="PNG")
        await services.trainsets.add(MANAGER, buffer.getvalue(), "mila")
    await settle(services)  # the captions and checks, not part of the run
    first = await services.training.plan(MANAGER, "mila", "Mila", TrainOverrides(steps=6))
    assert first.estimate_basis.startswith("a first guess")
    low, high = first.estimate_range
    assert high >= 10 * low  # no measurement yet: a wide range
    began = time.monotonic()
    ticket = await services.training.start(MANAGER, first.run_id)
    done = await services.jobs.wait(ticket.job_id, limit_s=300)
    measured = time.monotonic() - began
    assert done.status == "done", done.error
    second = await services.training.plan(MANAGER, "mila", "Mila", TrainOverrides(steps=6))
    assert second.estimate_basis == "from the last run's pace"
    assert measured / 2 <= second.estimate_s <= measured * 2, (second.estimate_s, measured)
    low, high = second.estimate_range
    assert low <= second.estimate_s <= high and high < 2 * low  # measured: a narrow range
    await services.training.drop(MANAGER, second.run_id)
