"""`studio train list` tells an interrupted run from a running one: its last checkpoint, and how to go on."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import TrainConfig
from storage import open_database
from studio.owner import acquire
from studio.training.kind import TrainRequest
from studio.training.plans import StoredPlan


def _crashed_run(data: Path, job_status: str, checkpoints: tuple[str, ...]) -> None:
    """What a `studio train` killed mid-run leaves: its run started, its job unfinished, some checkpoint folders."""

    async def build() -> None:
        db = await open_database(data / "studio.db")
        try:
            found = await db.training_sets.create("hero", None, 0, "zzhero", "tiny-sd")
            run = await db.training_runs.plan(
                guild_id=None,
                requester_id=0,
                set_id=found.id,
                set_name="hero",
                output_name="hero",
                base_model="tiny-sd",
                trigger_word="zzhero",
                plan=StoredPlan(
                    config=TrainConfig(steps=40),
                    sources={},
                    images=4,
                    samples=40,
                    disk_bytes=0,
                    memory_gb=None,
                    budget_gb=None,
                    guess_s=1.0,
                    estimate_s=10.0,
                    estimate_range=(8.0, 12.0),
                ).to_json(),
            )
            request = TrainRequest(run.id, "hero", "hero", 40, 10.0).to_json()
            job = await db.jobs.create("train", request, 0, origin="cli", lane="batch")
            await db.training_runs.started(run.id, job.id)
            if job_status == "running":
                await db.jobs.start(job.id)
        finally:
            await db.close()

    asyncio.run(build())
    for name in checkpoints:
        folder = data / "training" / "run-1" / name
        folder.mkdir(parents=True)
        for file in ("state.json", "optimizer.safetensors", "lora.safetensors"):
            (folder / file).write_text("{}")
    if checkpoints:
        (data / "training" / "run-1" / "ckpt-000024.tmp").mkdir()  # a save the kill cut short
        (data / "training" / "run-1" / "ckpt-000032").mkdir()  # an older trainer's leftover, not a checkpoint
        (data / "training" / "run-1" / "ckpt-000008" / "optimizer.safetensors").unlink()  # pruned: not resumable


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


CHECKPOINTS = ("ckpt-000008", "ckpt-000016")


def test_a_killed_run_shows_its_last_checkpoint_and_how_to_resume(run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("db", "upgrade").exit_code == 0
    _crashed_run(data, "running", CHECKPOINTS)
    # The killed process's name stays in the lock file; the OS dropped its lock.
    (data / "studio.lock").write_text(
        json.dumps({"pid": _dead_pid(), "command": "studio train", "since": "2026-01-01T00:00:00+00:00"})
    )
    listed = run("train", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == (
        "#1 hero: interrupted at step 16/40 (its last checkpoint): `studio train --name hero --resume` to go on"
    )


def test_a_run_kept_by_another_command_is_interrupted_one_of_its_own_owner_runs(run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("db", "upgrade").exit_code == 0
    _crashed_run(data, "queued", CHECKPOINTS)  # the next command's recovery put it back in the queue and kept it
    lock = acquire(data, "studio generate")
    try:
        assert "interrupted at step 16/40" in run("train", "list").output
    finally:
        lock.release()
    lock = acquire(data, "studio train")  # the `studio train` that runs it, about to start it
    try:
        assert run("train", "list").output.strip() == "#1 hero: queued, 0/40 steps"
    finally:
        lock.release()


def test_a_running_run_of_a_live_owner_is_not_interrupted(run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("db", "upgrade").exit_code == 0
    _crashed_run(data, "running", ())
    lock = acquire(data, "studio run")
    try:
        assert run("train", "list").output.strip() == "#1 hero: running, 0/40 steps"
    finally:
        lock.release()
    listed = run("train", "list").output.strip()  # its owner gone, before any checkpoint
    assert listed.startswith("#1 hero: interrupted before its first checkpoint, 0/40: `studio train --name hero")


def test_an_interrupted_run_is_resumed_or_cancelled_before_another_starts(run, tmp_path: Path) -> None:
    from tests.engine.training_support import planted_images

    data = tmp_path / "data"
    assert run("db", "upgrade").exit_code == 0
    _crashed_run(data, "running", CHECKPOINTS)
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    refused = run("train", "--images", str(folder), "--name", "other", "--base", "tiny-sd", "--force")
    assert refused.exit_code == 1, refused.output
    assert (
        refused.output.strip()
        .splitlines()[-1]
        .endswith(
            "The training 'hero' (run 1) has not ended: `studio train --name hero --resume` goes on with it, "
            "`studio train cancel hero` drops it."
        )
    )
    assert not (data / "trainsets").exists() or not any((data / "trainsets").rglob("*.png"))
    cancelled = run("train", "cancel", "hero")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled run 1 (hero); its checkpoints stay in" in cancelled.output
    assert run("train", "list").output.strip() == "#1 hero: cancelled, 0/40 steps"
    again = run("train", "cancel", "hero")
    assert again.exit_code == 1 and "No interrupted training of 'hero'" in again.output


@pytest.mark.slow  # a real `studio train` process on tiny-sd, killed at its first checkpoint, then resumed
def test_a_run_whose_process_was_killed(run, tmp_path: Path) -> None:
    import os
    import signal
    import time

    from tests.engine.training_support import planted_images

    data, folder = tmp_path / "data", tmp_path / "photos"
    for item in planted_images(folder, 3):
        item.path.with_suffix(".txt").write_text(item.caption)  # no captioner needed
    env = os.environ | {"STUDIO_DEVICE": "cpu", "STUDIO_CAPTIONER": "tiny-blip", "STUDIO_EMBEDDER": "tiny-clip"}
    args = ["--data-dir", str(data), "train", "--images", str(folder), "--name", "hero", "--base", "tiny-sd"]
    child = subprocess.Popen(
        [sys.executable, "-m", "cli", *args, "--steps", "80", "--force"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = data / "training" / "run-1" / "ckpt-000020"
    try:
        deadline = time.monotonic() + 240
        while not (checkpoint / "optimizer.safetensors").is_file():
            assert child.poll() is None, "the training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 4 minutes"
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    listed = run("train", "list")
    assert listed.exit_code == 0, listed.output
    # Killed at its first checkpoint, or at a later one it reached before the signal.
    assert re.fullmatch(
        r"#1 hero: interrupted at step (20|40|60)/80 \(its last checkpoint\): "
        r"`studio train --name hero --resume` to go on",
        listed.output.strip(),
    ), listed.output
    resumed = run("train", "--name", "hero", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "trained 80/80 steps" in resumed.output and ", resumed at step" in resumed.output
    assert run("train", "list").output.startswith("#1 hero: done, 80/80 steps")
