"""Real services on a temporary database, on the fake engine host (`tests/fakes.py`: no torch, milliseconds).

`tiny_services` runs them on the real engine with tiny-sd instead (`tiny_manager`: tests/conftest.py),
for the tests marked `slow` that check what the engine itself does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import get_args

import pytest

from engine.backends import OrderRunner
from engine.host import EngineHost
from studio.container import Services, open_services
from studio.contract import Caller, Deliverable, JobRoute, Origin, Progress, SchedulePaused
from studio.settings import Settings, load_settings
from tests.fakes import FakeEngineHost


class RecordingDelivery:
    """A DeliveryPort that remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, object]] = []
        self.results: dict[int, Deliverable] = {}
        self.labels: list[str] = []
        self.notices: list[SchedulePaused] = []
        self._next_message = 1000

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        self.calls.append(("queued", route.job_id, position))
        self._next_message += 1
        return self._next_message

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        self.calls.append(("progress", route.job_id, (progress.step, progress.total)))
        self.labels.append(progress.label)

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        self.calls.append(("delivered", route.job_id, result))
        self.results[route.job_id] = result
        self._next_message += 1
        return self._next_message

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        self.calls.append(("posted", route.job_id, item))
        self._next_message += 1
        return self._next_message

    async def failed(self, route: JobRoute, message: str) -> None:
        self.calls.append(("failed", route.job_id, message))

    async def cancelled(self, route: JobRoute) -> None:
        self.calls.append(("cancelled", route.job_id, None))

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        self.notices.append(notice)

    def kinds(self, job_id: int) -> list[str]:
        return [kind for kind, jid, _ in self.calls if jid == job_id]

    def delivered_order(self) -> list[int]:
        return [jid for kind, jid, _ in self.calls if kind == "delivered"]


ORIGINS: tuple[Origin, ...] = get_args(Origin)


def show_everything(services: Services, port: RecordingDelivery) -> RecordingDelivery:
    """Make `port` the one port of every origin (in place of any before): a process that shows every job."""
    services.jobs.delivery.unregister(*ORIGINS)
    services.jobs.delivery.register(port, *ORIGINS)
    return port


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "tiny-sd")
    return load_settings(env_file=None)


@pytest.fixture
def host() -> FakeEngineHost:
    # 10 ms a step: a 40-step job runs long enough to be cancelled or stopped mid-way.
    return FakeEngineHost(step_s=0.01)


def reopen(settings: Settings, host: OrderRunner) -> AbstractAsyncContextManager[Services]:
    """Services on the same data dir, as after a restart."""
    return open_services(settings, host=host)


@pytest.fixture
async def services(settings, host) -> AsyncIterator[Services]:
    async with open_services(settings, host=host) as opened:
        yield opened


@pytest.fixture
async def tiny_services(settings, tiny_manager) -> AsyncIterator[Services]:
    async with open_services(settings, host=EngineHost(manager_factory=lambda: tiny_manager)) as opened:
        yield opened


@pytest.fixture
def delivery(services: Services) -> RecordingDelivery:
    return show_everything(services, RecordingDelivery())


@pytest.fixture
def tiny_delivery(tiny_services: Services) -> RecordingDelivery:
    return show_everything(tiny_services, RecordingDelivery())


GUILD = 42
ALICE = Caller(user_id=1, guild_id=GUILD, channel_id=7)
BOB = Caller(user_id=2, guild_id=GUILD, channel_id=7)
MOD = Caller(user_id=3, guild_id=GUILD, channel_id=7, may_moderate=True, may_manage_server=True)


async def settle(services: Services, limit_s: float = 30.0) -> None:
    """Wait until no job is queued or running (jobs that jobs start, such as captions, included)."""
    import asyncio

    async def idle() -> None:
        while active := [*await services.db.jobs.list_running(), *await services.db.jobs.fair_queue()]:
            for job in active:
                await services.jobs.wait(job.id)

    await asyncio.wait_for(idle(), limit_s)
