"""Real services on a temporary database and the real engine with tiny-sd (`tiny_manager`: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services.api import Caller, JobResult, JobRoute, Progress
from bot.services.container import Services, open_services
from bot.services.runtime import EngineRuntime
from bot.settings import load_settings


class RecordingDelivery:
    """A DeliveryPort that remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, object]] = []
        self.results: dict[int, JobResult] = {}
        self._next_message = 1000

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        self.calls.append(("queued", route.job_id, position))
        self._next_message += 1
        return self._next_message

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        self.calls.append(("progress", route.job_id, (progress.step, progress.total)))

    async def delivered(self, route: JobRoute, result: JobResult) -> int | None:
        self.calls.append(("delivered", route.job_id, result))
        self.results[route.job_id] = result
        self._next_message += 1
        return self._next_message

    async def failed(self, route: JobRoute, message: str) -> None:
        self.calls.append(("failed", route.job_id, message))

    async def cancelled(self, route: JobRoute) -> None:
        self.calls.append(("cancelled", route.job_id, None))

    def kinds(self, job_id: int) -> list[str]:
        return [kind for kind, jid, _ in self.calls if jid == job_id]

    def delivered_order(self) -> list[int]:
        return [jid for kind, jid, _ in self.calls if kind == "delivered"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "tiny-sd")
    return load_settings(env_file=None)


@pytest.fixture
async def services(settings, tiny_manager) -> AsyncIterator[Services]:
    runtime = EngineRuntime(manager_factory=lambda: tiny_manager)
    async with open_services(settings, runtime=runtime) as opened:
        yield opened


@pytest.fixture
def delivery(services: Services) -> RecordingDelivery:
    port = RecordingDelivery()
    services.jobs.set_delivery(port)
    return port


GUILD = 42
ALICE = Caller(user_id=1, guild_id=GUILD, channel_id=7)
BOB = Caller(user_id=2, guild_id=GUILD, channel_id=7)
MOD = Caller(user_id=3, guild_id=GUILD, channel_id=7, is_moderator=True, is_manager=True)
