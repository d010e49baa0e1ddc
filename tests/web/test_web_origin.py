"""The web's jobs have an origin of their own: stored as "web", shown only by the web's port, and, like a member's
command, kept queued across a restart (a command line's queued image job is dropped instead)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from studio.container import open_services
from studio.images.api import GenerateInput
from studio.settings import load_settings
from tests.fakes import FakeEngineHost
from tests.web.conftest import BASE, JOB_LIMIT_S, Studio
from web.auth import LOCAL_OWNER, WEB_ORIGIN, read_token
from web.runner import attach_web


async def test_a_job_asked_for_at_the_web_is_stored_as_web_and_shown_by_the_web_only(
    owner: httpx.AsyncClient, studio: Studio
) -> None:
    assert WEB_ORIGIN == "web" == LOCAL_OWNER.origin
    delivery = studio.services.jobs.delivery
    assert delivery.port("web") is studio.server.events
    assert delivery.port("cli") is None  # a command line's jobs are not the web's to show
    answer = await owner.post("/api/generate/text-to-image", json={"prompt": "a lighthouse", "num_outputs": 1})
    assert answer.status_code == 202, answer.text
    job = await studio.services.jobs.wait(answer.json()["job_id"], JOB_LIMIT_S)
    assert (job.origin, job.status) == ("web", "done")
    stored = await studio.services.db.jobs.get(job.id)
    assert stored is not None and stored.origin == "web"


async def test_a_web_job_queued_at_shutdown_runs_after_the_restart(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None, STUDIO_DATA_DIR=tmp_path / "data", STUDIO_DEVICE="cpu", STUDIO_DEFAULT_MODEL="tiny-sd"
    )
    token = read_token(settings.data_dir)
    # The first process queues a job from the browser and one from a command line, then stops before running them.
    async with open_services(settings, host=FakeEngineHost(), owner="studio web") as services:
        server = attach_web(services, settings, "127.0.0.1", 0)
        transport = httpx.ASGITransport(app=server.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as api:
            answer = await api.post(
                "/api/generate/text-to-image",
                json={"prompt": "kept", "num_outputs": 1},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 202, answer.text
        web_job = answer.json()["job_id"]
        cli_caller = replace(LOCAL_OWNER, origin="cli")
        cli_job = (await services.generate.submit(cli_caller, GenerateInput("dropped", count=1))).job_id
        server.events.shutdown.set()
    # The next owner serves the web again: the web's job waits for it and runs; the command line's is dropped.
    async with open_services(settings, host=FakeEngineHost(), owner="studio web") as services:
        server = attach_web(services, settings, "127.0.0.1", 0)
        leftovers = await services.jobs.start()
        assert [(each.job_id, each.action) for each in leftovers] == [(cli_job, "dropped")]
        done = await services.jobs.wait(web_job, JOB_LIMIT_S)
        assert (done.status, done.origin) == ("done", "web")
        dropped = await services.db.jobs.get(cli_job)
        assert dropped is not None and dropped.status == "cancelled"
        server.events.shutdown.set()
