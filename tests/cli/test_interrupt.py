"""Ctrl+C at the command line cancels the job for good (a training stops at a checkpoint, resumable), and what a
killed command left is dealt with, in one line, by the next one. Real processes on the real engine (tiny-sd)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return {**env, "STUDIO_DEVICE": "cpu", **extra}


class Studio:
    """`studio` commands on one data folder, each a process of its own."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.tmp = tmp_path
        self.data = tmp_path / "data"
        self.env = _env(**env)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli", "--data-dir", str(self.data), *args]

    def run(self, *args: str, limit_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.env, cwd=self.tmp, timeout=limit_s
        )

    def start(self, *args: str) -> tuple[subprocess.Popen[str], Path]:
        """A command in the background; its stderr (the progress bar) goes to a file the test reads."""
        err = self.tmp / f"stderr{time.monotonic_ns()}.txt"
        with err.open("w") as sink:
            proc = subprocess.Popen(
                self.argv(*args),
                stdout=subprocess.DEVNULL,
                stderr=sink,
                text=True,
                env=self.env,
                cwd=self.tmp,
                preexec_fn=_ctrl_c_as_in_a_terminal,
            )
        return proc, err

    def jobs(self) -> dict[int, tuple[str, str]]:
        with sqlite3.connect(self.data / "studio.db", timeout=10) as conn:
            return {i: (kind, status) for i, kind, status in conn.execute("SELECT id, kind, status FROM jobs")}


def _ctrl_c_as_in_a_terminal() -> None:
    """Give the command Ctrl+C's default disposition, whatever the suite inherited.

    A non-interactive shell starts a background job (`make test &`) with SIGINT ignored, the ignore survives exec, and
    Python then installs no KeyboardInterrupt handler: the signals these tests send would be lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _step(err: Path, total: int, proc: subprocess.Popen[str], at_least: int = 2, limit_s: float = 240) -> int:
    """Wait until the progress bar shows a step of `total`; the job it names."""
    deadline = time.monotonic() + limit_s
    while True:
        found = re.findall(rf"job (\d+):[^|]*\|[^|]*\| *(\d+)/{total}\b", err.read_text(errors="replace"))
        if found and int(found[-1][1]) >= at_least:
            return int(found[-1][0])
        assert proc.poll() is None, err.read_text(errors="replace")
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


def _last_line(text: str) -> str:
    return re.split(r"[\r\n]", text.strip())[-1]


def test_ctrl_c_cancels_the_job_for_good_and_the_next_command_does_not_run_it(tmp_path: Path) -> None:
    studio = Studio(tmp_path)
    proc, err = studio.start("generate", "interrupt me", "-n", "8", "-m", "tiny-sd", "--steps", "50")
    job = _step(err, 50, proc)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode == 130
    assert _last_line(err.read_text()) == f"cancelled job {job}"
    assert studio.jobs() == {job: ("generate", "cancelled")}
    after = studio.run("generate", "next", "-n", "1", "-m", "tiny-sd", "--steps", "2")
    assert after.returncode == 0, after.stderr
    assert "left by an interrupted command" not in after.stderr
    assert studio.jobs() == {job: ("generate", "cancelled"), job + 1: ("generate", "done")}
    assert not list((studio.data / "images").glob(f"{job:07d}/*.png"))  # no unwanted images, then or now


def test_a_killed_commands_job_is_dropped_with_a_line_by_the_next_one(tmp_path: Path) -> None:
    studio = Studio(tmp_path)
    proc, err = studio.start("generate", "killed", "-n", "8", "-m", "tiny-sd", "--steps", "50")
    job = _step(err, 50, proc)
    proc.send_signal(signal.SIGKILL)  # no clean-up at all: the job stays 'running', the OS frees the folder
    proc.wait(timeout=60)
    assert studio.jobs() == {job: ("generate", "running")}
    after = studio.run("generate", "next", "-n", "1", "-m", "tiny-sd", "--steps", "2")
    assert after.returncode == 0, after.stderr
    assert f"dropped job {job} (generate) left by an interrupted command" in after.stderr
    assert studio.jobs() == {job: ("generate", "cancelled"), job + 1: ("generate", "done")}


def test_ctrl_c_stops_a_training_at_a_checkpoint_that_resume_goes_on_from(tmp_path: Path) -> None:
    from tests.engine.training_support import planted_images

    studio = Studio(tmp_path, STUDIO_CAPTIONER="tiny-blip", STUDIO_EMBEDDER="tiny-clip")
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    for n in range(3):
        (folder / f"{n}.txt").write_text(f"zzhero photo {n}\n")
    proc, err = studio.start(
        "train", "--images", str(folder), "--name", "Hero", "--steps", "24", "--trigger", "zzhero", "--force"
    )
    job = _step(err, 24, proc, at_least=3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=180)
    line = _last_line(err.read_text())
    assert proc.returncode == 130, err.read_text()
    stopped = re.fullmatch(rf"job {job} stopped at step (\d+); `studio train --name Hero --resume` goes on", line)
    assert stopped is not None, line
    assert studio.jobs()[job] == ("train", "queued")
    # Another command neither runs the training nor hides it.
    other = studio.run("generate", "meanwhile", "-n", "1", "-m", "tiny-sd", "--steps", "2")
    assert other.returncode == 0, other.stderr
    assert f"job {job} (train) was left by an interrupted command: `studio train --name Hero --resume`" in other.stderr
    assert "`studio train cancel Hero` drops it" in other.stderr
    assert studio.jobs()[job] == ("train", "queued")
    resumed = studio.run("train", "--name", "Hero", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    at = int(re.search(r"trained 24/24 steps in \d+ s, resumed at step (\d+)", resumed.stdout).group(1))
    assert 3 <= at <= int(stopped.group(1))
    assert studio.jobs()[job] == ("train", "done")
