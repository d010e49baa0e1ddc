"""The studio on the Ray backend (STUDIO_BACKEND=ray): real services, two workers that build their own engine hosts
on the tiny models, a LoRA trained on a worker and registered by the bot, then used by a generation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.container import open_services
from studio.contract import Caller
from studio.images.api import GenerateInput
from studio.settings import load_settings
from studio.training.api import TrainOverrides
from tests.engine.training_support import planted_images
from tests.studio.conftest import GUILD, RecordingDelivery, settle, show_everything

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

MANAGER = Caller(user_id=1, guild_id=GUILD, channel_id=7, may_manage_server=True)


async def _image(services, model: str, prompt: str = "a round figure") -> np.ndarray:
    ticket = await services.generate.submit(
        MANAGER, GenerateInput(prompt=prompt, model=model, count=1, seed=3, steps=2)
    )
    job = await services.jobs.wait(ticket.job_id, limit_s=180)
    assert job.status == "done", job.error
    (image,) = await services.db.images.for_job(ticket.job_id)
    with Image.open(image.path) as png:
        return np.asarray(png.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("files", ["shared", "object-store"])
async def test_a_lora_trains_on_a_ray_worker_and_the_bot_registers_it(tmp_path: Path, files: str) -> None:
    settings = load_settings(
        env_file=None,
        STUDIO_DATA_DIR=tmp_path / "data",
        STUDIO_DEVICE="cpu",
        STUDIO_DEFAULT_MODEL="tiny-sd",
        STUDIO_CAPTIONER="tiny-blip",
        STUDIO_EMBEDDER="tiny-clip",
        STUDIO_BACKEND="ray",
        STUDIO_RAY_WORKERS="2",
        STUDIO_RAY_FILES=files,
    )
    async with open_services(settings) as services:
        from engine.backends.ray_backend import RayBackend

        assert isinstance(services.backend, RayBackend) and len(await services.backend.workers()) == 2
        delivery = RecordingDelivery()
        show_everything(services, delivery)
        await services.db.guild_settings.update(GUILD, min_training_images=4)
        await services.jobs.start()
        await services.trainsets.create(MANAGER, "mila", trigger_word="zzmila")
        for item in planted_images(tmp_path / "set", 4):
            buffer = io.BytesIO()
            Image.open(item.path).save(buffer, format="PNG")
            await services.trainsets.add(MANAGER, buffer.getvalue(), "mila")
        await settle(services, limit_s=300)  # the captions, made on the workers
        plan = await services.training.plan(MANAGER, "mila", "Mila", TrainOverrides(steps=4))
        ticket = await services.training.start(MANAGER, plan.run_id)
        done = await services.jobs.wait(ticket.job_id, limit_s=300)
        assert done.status == "done", done.error
        assert any(kind == "progress" and job == ticket.job_id for kind, job, _ in delivery.calls)
        resolved = await services.models.resolve("mila")
        assert resolved.loras and Path(resolved.loras[0].path).is_file()  # the bot's own registry, its own files
        run = await services.db.training_runs.get(plan.run_id)
        data = str(settings.data_dir.resolve())
        for path in run.result["files"].values():  # whatever the worker wrote is the bot's, at the bot's paths
            assert path is None or (str(path).startswith(data) and Path(path).is_file()), path
        scratch: list[str] = []
        if files == "object-store":  # the workers ran in their own scratch folders, with the files shipped there
            from engine.backends.ray_backend import scratch_dirs

            scratch = scratch_dirs()
            assert scratch and any(any(Path(s).rglob("*.safetensors")) for s in scratch)
        base = await _image(services, "tiny-sd", "zzmila, a round figure")
        assert np.abs(await _image(services, "mila") - base).max() > 0
    assert not any(Path(s).exists() for s in scratch)  # the workers' scratch folders went with them


async def test_a_job_whose_worker_dies_is_retried_once_on_another(tmp_path: Path) -> None:
    from collections.abc import Mapping
    from typing import Any

    from engine.backends.ray_backend import RayBackend
    from engine.work import WorkOrder
    from studio.jobs import Completion, JobKind
    from tests.engine.scripted import Script, ScriptHost

    class ScriptKind(JobKind[dict]):
        name, label, lane, retry = "script", "Scripting", "interactive", "requeue"

        def parse(self, data: Mapping[str, Any]) -> dict:
            return dict(data)

        def dump(self, request: dict) -> dict[str, Any]:
            return request

        def summary(self, request: dict) -> str:
            return "script"

        async def order(self, job, request: dict) -> WorkOrder:
            return WorkOrder(job.id, "script", Script(tuple(tuple(step) for step in request["steps"])))

        async def complete(self, job, request: dict, outcome: Any) -> Completion:
            return Completion(result={"v": 1, "pid": outcome[2]})

    settings = load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu")
    backend = RayBackend(ScriptHost, workers=2, logical_gpus=4)
    backend.wait_ready()
    async with open_services(settings, backend=backend) as services:
        show_everything(services, RecordingDelivery())
        services.jobs.register(ScriptKind())
        await services.jobs.start()
        marker = tmp_path / "first-attempt"
        steps = [["exit_once", str(marker)], ["where"]]
        ticket = await services.jobs.submit(MANAGER, "script", {"v": 1, "steps": steps})
        job = await services.jobs.wait(ticket.job_id, limit_s=120)
        assert (job.status, job.attempts) == ("done", 2), job.error  # the first worker died, the retry ran
        assert marker.exists() and job.result["pid"] in backend.wait_ready()  # a live worker ran the retry
