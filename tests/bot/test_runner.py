"""`studio run` and `studio sync` wiring, against the fake Discord (no gateway: connect is replaced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import runner
from bot.client import StudioBot
from studio.settings import load_settings

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def _settings(tmp_path: Path, **extra: object):
    return load_settings(
        env_file=None,
        DISCORD_TOKEN=TOKEN,
        STUDIO_DATA_DIR=tmp_path / "data",
        STUDIO_DEVICE="cpu",
        **extra,
    )


async def test_sync_pushes_commands_globally(fake, tmp_path: Path) -> None:
    names = await runner.sync_commands(_settings(tmp_path), None)
    assert {"generate", "models", "queue", "settings", "describe", "vary", "edit"} <= set(names)
    assert {c["name"] for c in fake.synced[None]} == set(names)


async def test_sync_to_one_guild(fake, tmp_path: Path) -> None:
    names = await runner.sync_commands(_settings(tmp_path), 4242)
    assert "generate" in names
    assert {c["name"] for c in fake.synced[4242]} == set(names)


async def test_run_logs_in_starts_the_queue_then_connects(fake, tmp_path: Path, monkeypatch, caplog) -> None:
    seen: dict[str, object] = {}

    async def fake_connect(self: StudioBot, *, reconnect: bool = True) -> None:
        # Everything must be ready before the gateway opens: logged in, delivery wired, queue started.
        seen["user"] = self.user.id if self.user else None
        router = self.services.jobs.delivery
        seen["delivery"] = router.port("interaction") is router.port("schedule") is self.delivery
        seen["no cli"] = not router.serves("cli")  # a dead `studio` command's jobs are not the bot's to show
        seen["started"] = self.services.jobs._started
        seen["reconnect"] = reconnect
        seen["autopost"] = self.services.autopost.on_change is not None  # the wake-ups run

    monkeypatch.setattr(StudioBot, "connect", fake_connect)
    await runner.run_bot(_settings(tmp_path))
    wired = {"delivery": True, "no cli": True, "started": True, "reconnect": True, "autopost": True}
    assert seen == {"user": seen["user"], **wired}
    assert seen["user"] is not None
    assert TOKEN not in caplog.text


async def test_run_without_token_fails_before_touching_anything(tmp_path: Path) -> None:
    from studio.settings import SettingsError

    settings = load_settings(env_file=None, STUDIO_DATA_DIR=tmp_path / "data")
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        await runner.run_bot(settings)
    assert not (tmp_path / "data").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_serves_the_web_beside_the_bot(fake, tmp_path: Path, monkeypatch, capsys) -> None:
    import httpx

    from studio.owner import web_address
    from web.auth import WEB_ORIGIN, read_token

    port = _free_port()
    settings = _settings(tmp_path, STUDIO_WEB_PORT=str(port))
    seen: dict[str, object] = {}

    async def fake_connect(self: StudioBot, *, reconnect: bool = True) -> None:
        headers = {"Authorization": f"Bearer {read_token(settings.data_dir)}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as script:
            seen["models"] = (await script.get("/api/models")).status_code
        seen["web port"] = self.services.jobs.delivery.serves(WEB_ORIGIN)
        seen["cli shown"] = self.services.jobs.delivery.serves("cli")  # a command line's jobs are no one's here
        seen["address"] = web_address(settings.data_dir)  # where a command line hands its jobs

    monkeypatch.setattr(StudioBot, "connect", fake_connect)
    await runner.run_bot(settings)
    assert seen == {"models": 200, "web port": True, "cli shown": False, "address": f"http://127.0.0.1:{port}/"}
    assert web_address(settings.data_dir) is None and not (settings.data_dir / "web.json").exists()
    assert f"web studio: http://127.0.0.1:{port}/?token=" in capsys.readouterr().out
    async with httpx.AsyncClient() as later:
        with pytest.raises(httpx.ConnectError):  # stopped with the bot
            await later.get(f"http://127.0.0.1:{port}/api/models")


async def test_a_taken_web_port_leaves_the_bot_running(fake, tmp_path: Path, monkeypatch, caplog) -> None:
    import socket

    connected: list[bool] = []

    async def fake_connect(self: StudioBot, *, reconnect: bool = True) -> None:
        connected.append(True)  # the gateway still opened: the bot runs without its web

    monkeypatch.setattr(StudioBot, "connect", fake_connect)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        await runner.run_bot(_settings(tmp_path, STUDIO_WEB_PORT=str(taken.getsockname()[1])))
    assert connected == [True]
    assert "the web studio could not listen" in caplog.text
