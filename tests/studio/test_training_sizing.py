"""Training plans are sized for the worker that will run them (`backend.workers()`), not the bot's own device."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.backends import WorkerInfo
from engine.catalog import get_preset
from studio.container import Services, open_services
from studio.contract import Caller
from studio.errors import Refused
from studio.training.api import TrainOverrides
from studio.training.plans import SizedFor, StoredPlan
from studio.training.sizing import plan_for, smallest
from tests.fakes import FakeEngineHost
from tests.studio.conftest import GUILD

MANAGER = Caller(user_id=1, guild_id=GUILD, channel_id=7, may_manage_server=True)


def gpu(name: str, gb: float | None, *, alive: bool = True) -> WorkerInfo:
    if gb is None:
        return WorkerInfo(name, "cpu", None, None, "fp32", alive=alive)
    return WorkerInfo(name, "cuda:0", f"GPU {gb:.0f} GB", gb, "bf16", alive=alive)


def test_a_12_gb_and_an_80_gb_worker_get_different_plans() -> None:
    preset = get_preset("sd15")
    small, large = (
        plan_for(gpu(name, gb), preset, images=25, overrides={"resolution": 1024}, sample_prompts=())
        for name, gb in (("small", 12.0), ("large", 80.0))
    )
    assert small.config.gradient_checkpointing and small.sources["gradient_checkpointing"] == "memory"
    assert not large.config.gradient_checkpointing
    assert (small.budget_gb, large.budget_gb) == (11.0, 79.0)
    assert small.config.mixed_precision == large.config.mixed_precision == "bf16"
    cpu = plan_for(gpu("cpu", None), preset, images=25, overrides={}, sample_prompts=())
    assert cpu.memory_gb is None and cpu.config.mixed_precision == "no"  # fp32 on the CPU, not sized


def test_the_plan_is_sized_for_the_smallest_worker_alive() -> None:
    workers = [gpu("ray-0", 80.0), gpu("ray-1", 24.0), gpu("ray-2", 12.0, alive=False)]
    assert smallest(workers).name == "ray-1"  # a dead worker runs nothing
    assert SizedFor.of(smallest(workers)).to_json() == {
        "name": "ray-1",
        "device": "cuda:0",
        "gpu": "GPU 24 GB",
        "gpu_memory_gb": 24.0,
        "precision": "bf16",
    }
    with pytest.raises(Refused, match="No engine worker is up"):
        smallest([gpu("ray-2", 12.0, alive=False)])


class GpuHost(FakeEngineHost):
    """The fake engine, describing itself as a worker with a GPU of `gb` GB."""

    def __init__(self, gb: float) -> None:
        super().__init__()
        self.gb = gb

    def worker_info(self, name: str) -> WorkerInfo:
        return WorkerInfo(name, "cuda:0", "Fake GPU", self.gb, "bf16")


@pytest.fixture(params=[12.0, 80.0])
async def on_gpu(settings, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Services, float]]:
    async with open_services(settings, host=GpuHost(request.param)) as services:
        yield services, request.param


async def test_the_service_asks_the_backend_for_its_worker(on_gpu: tuple[Services, float]) -> None:
    services, gb = on_gpu
    # FLUX.1 needs about 33 GB even with batch 1, checkpointing and T5 offloaded: 80 GB takes it, 12 GB does not.
    if gb >= 80:
        assert await services.training.check_settings(MANAGER, "flux-dev", 25) == "flux-dev"
    else:
        with pytest.raises(Refused, match=r"and 11\.0 GB is there"):
            await services.training.check_settings(MANAGER, "flux-dev", 25)


async def test_the_stored_plan_names_the_worker_it_was_sized_for(settings, tmp_path) -> None:
    import io

    from tests.engine.training.test_dataset_checks import face
    from tests.studio.conftest import settle

    async with open_services(settings, host=GpuHost(24.0)) as services:
        await services.db.guild_settings.update(GUILD, min_training_images=4)
        await services.jobs.start()
        await services.trainsets.create(MANAGER, "mila", base_model="tiny-sd", trigger_word="zzmila")
        for seed in range(4):
            buffer = io.BytesIO()
            face(seed).save(buffer, format="PNG")
            await services.trainsets.add(MANAGER, buffer.getvalue(), "mila")
        await settle(services)
        view = await services.training.plan(MANAGER, "mila", "Mila", TrainOverrides(steps=4))
        stored = await services.db.training_runs.get(view.run_id)
    worker = StoredPlan.from_json(stored.plan).worker if stored else None
    assert worker is not None and worker.gpu_memory_gb == 24.0
    rows = {row.label: row for row in view.rows}
    assert rows["Sized for"].value == "local (cuda:0, Fake GPU, 24 GB)"
    assert rows["Precision"].value == "bf16"  # the worker's, not this test machine's CPU
