"""The studio on the engine process (STUDIO_BACKEND=process, the default): jobs through the real queue, a child
that dies under a job and the retry on a fresh one, and a bot's process that never loads torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from engine.backends.process import ProcessBackend
from engine.work import WorkOrder
from studio.container import open_services
from studio.contract import Caller
from studio.jobs import Completion, JobKind
from studio.settings import Settings, load_settings
from tests.engine.scripted import Script, ScriptHost
from tests.studio.conftest import GUILD, RecordingDelivery, show_everything

ROOT = Path(__file__).resolve().parents[2]
MANAGER = Caller(user_id=1, guild_id=GUILD, channel_id=7, may_manage_server=True)


class ScriptKind(JobKind[dict]):
    """Runs a scripted order (tests/engine/scripted.py); a lost worker requeues it."""

    name, label, lane, retry = "script", "Scripting", "interactive", "requeue"

    def parse(self, data: Mapping[str, Any]) -> dict:
        return dict(data)

    def dump(self, request: dict) -> dict[str, Any]:
        return request

    def summary(self, request: dict) -> str:
        return "script"

    async def order(self, job: Any, request: dict) -> WorkOrder:
        return WorkOrder(job.id, "script", Script(tuple(tuple(step) for step in request["steps"])))

    async def complete(self, job: Any, request: dict, outcome: Any) -> Completion:
        return Completion(result={"v": 1, "pid": outcome[2]})


async def test_a_job_whose_engine_process_dies_is_retried_on_a_fresh_one(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu")
    backend = ProcessBackend(ScriptHost)
    first = await backend.ready()
    async with open_services(settings, backend=backend) as services:
        show_everything(services, RecordingDelivery())
        services.jobs.register(ScriptKind())
        await services.jobs.start()
        marker = tmp_path / "first-attempt"
        steps = [["exit_once", str(marker)], ["where"]]
        ticket = await services.jobs.submit(MANAGER, "script", {"v": 1, "steps": steps})
        job = await services.jobs.wait(ticket.job_id, limit_s=60)
        assert (job.status, job.attempts) == ("done", 2), job.error  # the first child died, the retry ran
        assert marker.exists() and job.result["pid"] == await backend.ready() != first
        # The bot's side went on as if nothing happened: the next job runs at once.
        again = await services.jobs.submit(MANAGER, "script", {"v": 1, "steps": [["where"]]})
        assert (await services.jobs.wait(again.job_id, limit_s=60)).status == "done"


async def test_the_settings_pick_where_the_engine_runs(tmp_path: Path) -> None:
    from engine.backends import ThreadBackend
    from studio.container import make_backend

    def settings(kind: str) -> Settings:
        return load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path, STUDIO_DEVICE="cpu", STUDIO_BACKEND=kind)

    backend, host = make_backend(settings("thread"))
    assert isinstance(backend, ThreadBackend) and host is not None  # the engine host lives here
    await backend.shutdown()
    backend, host = make_backend(settings("local"))  # the older name
    assert isinstance(backend, ProcessBackend) and host is None  # the engine process builds its own
    await backend.shutdown()


# Real services on the default backend, in a fresh interpreter (this test session has torch loaded): a generation
# on tiny-sd, and one on a GPU this machine lacks, whose error class (engine.diffusion.device's) would load torch here.
BOT = """
import asyncio, json, sys
from studio.container import open_services
from studio.contract import Caller
from studio.images.api import GenerateInput
from studio.settings import Settings, load_settings
from tests.studio.conftest import RecordingDelivery, show_everything

async def main(data, device):
    settings = load_settings(env_file=None, STUDIO_DATA_DIR=data, STUDIO_DEVICE=device, STUDIO_DEFAULT_MODEL="tiny-sd")
    async with open_services(settings) as services:
        show_everything(services, RecordingDelivery())
        await services.jobs.start()
        caller = Caller(user_id=1, guild_id=5, channel_id=7, may_manage_server=True)
        ticket = await services.generate.submit(caller, GenerateInput(prompt="a fox", count=1, seed=3, steps=2))
        job = await services.jobs.wait(ticket.job_id, limit_s=300)
        images = await services.db.images.for_job(ticket.job_id)
        return {"backend": type(services.backend).__name__, "status": job.status, "error": job.error,
                "images": [str(image.path) for image in images]}

done = asyncio.run(main(sys.argv[1], "cpu"))
failed = asyncio.run(main(sys.argv[1] + "-cuda", "cuda"))
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "peft") if m in sys.modules)
print(json.dumps({"done": done, "failed": failed, "heavy": heavy}))
"""


@pytest.mark.slow
def test_the_bots_process_runs_jobs_on_the_engine_process_without_loading_torch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", BOT, str(tmp_path / "data")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["done"]["backend"] == "ProcessBackend"
    assert report["done"]["status"] == "done", report["done"]["error"]
    assert [Path(p).is_file() for p in report["done"]["images"]] == [True]
    # Without a GPU, the device error came back as its words (an EngineError: shown to the member as it is).
    failed = report["failed"]
    assert failed["status"] == "done" or "STUDIO_DEVICE=cuda but torch sees no CUDA GPU" in failed["error"], failed
