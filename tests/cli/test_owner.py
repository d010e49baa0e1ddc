"""One owner per data folder: the lock itself, the queue's rules for owners and readers, and two real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.commands._support import LOCAL
from cli.main import cli
from studio.container import Services, open_services
from studio.contract import Caller
from studio.images.api import GenerateInput
from studio.owner import LOCK_NAME, FolderInUse, acquire, read_holder
from studio.settings import load_settings
from tests.fakes import FakeEngineHost
from tests.studio.conftest import RecordingDelivery

ROOT = Path(__file__).resolve().parents[2]
CLI_USER = LOCAL
MEMBER = Caller(user_id=5, guild_id=42, channel_id=7)
FAST = {"steps": 2, "model": "tiny-sd", "count": 1}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return {**env, "STUDIO_DEVICE": "cpu", **extra}


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that owns tmp_path/data as `studio run` would, until killed."""
    script = (
        "import sys, time; from pathlib import Path; from studio.owner import acquire; "
        "acquire(Path(sys.argv[1]), 'studio run'); print('held', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "data")], stdout=subprocess.PIPE, text=True, env=_env()
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait(timeout=30)
    proc.stdout.close()


# ---------------------------------------------------------------- the lock


def test_a_second_owner_is_refused_with_who_holds_the_folder_until_the_holder_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    data = tmp_path / "data"
    with pytest.raises(FolderInUse) as refused:
        acquire(data, "studio generate")
    message = refused.value.user_message
    assert f"in use by `studio run` (pid {holder.pid}, since " in message and "\n" not in message
    assert "wait for it to end or stop it" in message
    holder.send_signal(signal.SIGKILL)  # a crash: the OS drops the lock with the process
    holder.wait(timeout=30)
    lock = acquire(data, "studio generate")
    named = read_holder(data / LOCK_NAME)
    assert named is not None and named.pid == os.getpid() and named.command == "studio generate"
    lock.release()
    assert read_holder(data / LOCK_NAME) is None  # released: the file names nobody
    acquire(data, "studio train").release()  # and the folder can be owned again


def test_commands_that_run_jobs_are_refused_and_readers_work_beside_an_owner(
    tmp_path: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "STUDIO_DATA_DIR", "STUDIO_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), *args], catch_exceptions=False)

    image = tmp_path / "a.png"
    image.write_bytes(b"not read: the folder is refused first")
    for args in (
        ("generate", "a cat", "-n", "1", "-m", "tiny-sd", "--steps", "2"),
        ("demo",),
        ("describe", str(image)),
        ("train", "--name", "hero", "--resume"),
        ("trainset", "add", "hero", str(image)),
    ):
        refused = run(*args)
        lines = refused.output.strip().splitlines()
        assert refused.exit_code == 1, (args, refused.output)
        assert f"in use by `studio run` (pid {holder.pid}" in lines[-1], (args, refused.output)
    monkeypatch.setenv("DISCORD_TOKEN", "a-token-never-sent")
    bot = run("run")  # a second bot on the folder: refused before it logs in
    assert bot.exit_code == 1 and f"in use by `studio run` (pid {holder.pid}" in bot.output
    monkeypatch.delenv("DISCORD_TOKEN")
    for args in (("models", "list"), ("train", "list"), ("trainset", "list"), ("autopost", "list")):
        read = run(*args)
        assert read.exit_code == 0, (args, read.output)
    shown = run("trainset", "show", "nope")  # its checks would need the queue: it reads beside the owner
    assert shown.exit_code == 1 and "no training set named 'nope'" in shown.output


# ---------------------------------------------------------------- the queue's rules


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    return load_settings(env_file=None)


@pytest.fixture
async def services(settings) -> AsyncIterator[Services]:
    async with open_services(settings, host=FakeEngineHost(step_s=0.01)) as opened:
        yield opened


async def test_a_command_line_owner_drops_a_dead_commands_jobs_and_runs_no_one_elses(settings, services) -> None:
    left = await services.generate.submit(CLI_USER, GenerateInput(prompt="left behind", **FAST))
    await services.db.jobs.start(left.job_id)  # running when its process died
    members = await services.generate.submit(MEMBER, GenerateInput(prompt="for the bot", **FAST))
    async with open_services(settings, host=FakeEngineHost(), owner="studio generate") as cli_run:
        leftovers = await cli_run.jobs.start(own_only=True)
        assert [(each.job_id, each.action) for each in leftovers] == [(left.job_id, "dropped")]
        own = await cli_run.generate.submit(CLI_USER, GenerateInput(prompt="mine", **FAST))
        assert (await cli_run.jobs.wait(own.job_id, limit_s=60)).status == "done"
        # The member's job waits for the bot: a command line never delivers it to the terminal.
        assert (await cli_run.db.jobs.get(members.job_id)).status == "queued"
    assert (await services.db.jobs.get(left.job_id)).status == "cancelled"


async def test_the_bot_keeps_a_dead_commands_training_for_resume_and_runs_the_rest(settings, services) -> None:
    training = await services.db.jobs.create("train", {"v": 1, "run_id": 99}, 0, origin="cli", lane="batch")
    member = await services.generate.submit(MEMBER, GenerateInput(prompt="for the bot", **FAST))
    async with open_services(settings, host=FakeEngineHost(), owner="studio run") as bot:
        port = RecordingDelivery()
        bot.jobs.delivery.register(port, "interaction", "schedule")  # as the Discord adapter does
        leftovers = await bot.jobs.start()
        assert [(each.job_id, each.action) for each in leftovers] == [(training.id, "kept")]
        for _ in range(3000):  # the member's job runs and is shown, though nobody here waits on it
            if (await bot.db.jobs.get(member.job_id)).status == "done":
                break
            await asyncio.sleep(0.01)
        assert port.kinds(member.job_id)[-1] == "delivered"
        assert (await bot.db.jobs.get(training.id)).status == "queued"  # not run: it waits for --resume
        # Waiting on it, as `studio train --resume` does, runs it here (its plan is gone, so it fails).
        assert (await bot.jobs.wait(training.id, limit_s=60)).status == "failed"


async def test_interrupt_cancels_the_running_job_for_good(services) -> None:
    await services.jobs.start(own_only=True)
    ticket = await services.generate.submit(CLI_USER, GenerateInput(prompt="stop me", count=1, steps=40))
    for _ in range(500):
        if services.jobs.last_step(ticket.job_id) >= 2:
            break
        await asyncio.sleep(0.02)
    cancelled, kept = await services.jobs.interrupt()
    assert cancelled == [ticket.job_id] and kept == []
    job = await services.db.jobs.get(ticket.job_id)
    assert job.status == "cancelled" and job.result is None


async def test_a_reader_neither_runs_nor_leaves_jobs(settings) -> None:
    async with open_services(settings, host=FakeEngineHost()) as reader:
        reader.jobs.read_only()
        ticket = await reader.generate.submit(CLI_USER, GenerateInput(prompt="nobody runs me", **FAST))
        with pytest.raises(TimeoutError):
            await reader.jobs.wait(ticket.job_id)  # at once: no owner of this process runs it
    async with open_services(settings, host=FakeEngineHost()) as after:
        assert (await after.db.jobs.get(ticket.job_id)).status == "cancelled"


# ---------------------------------------------------------------- two real processes


def _status(db: Path, job_id: int) -> str | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    except sqlite3.OperationalError:  # the file exists a moment before the migrations create its tables
        return None
    return None if row is None else str(row[0])


def _until(check, limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _studio(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cli", "--data-dir", str(data), *args]


@pytest.mark.slow  # two processes on the real engine: tiny-sd
def test_a_second_process_is_refused_while_the_first_ones_job_runs_untouched(tmp_path: Path) -> None:
    data, env = tmp_path / "data", _env()
    first = subprocess.Popen(
        _studio(data, "generate", "while another waits", "-n", "2", "-m", "tiny-sd", "--steps", "50", "--seed", "9"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        _until(lambda: _status(data / "studio.db", 1) == "running" or first.poll() is not None)
        second = subprocess.run(
            _studio(data, "generate", "beside it", "-n", "1", "-m", "tiny-sd", "--steps", "1"),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        reader = subprocess.run(
            _studio(data, "train", "list"), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        out, _ = first.communicate(timeout=300)
    finally:
        first.kill()
    assert second.returncode == 1 and second.stdout == ""
    assert second.stderr.count("\n") == 1 and f"`studio generate` (pid {first.pid}, since " in second.stderr
    assert reader.returncode == 0 and reader.stdout.strip() == "no trainings yet"
    assert first.returncode == 0 and "job 1: 2 image(s), model tiny-sd, seed 9, 50 steps" in out
    with sqlite3.connect(data / "studio.db") as conn:
        jobs = conn.execute("SELECT id, status, attempts FROM jobs").fetchall()
    assert jobs == [(1, "done", 1)]  # ran once, by its own process; the refused one queued nothing
