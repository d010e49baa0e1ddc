"""`studio train` hands its run to the folder's owner when that owner serves the web: real processes, `studio web`
and `studio train` on tiny-sd. The set is filled and the run planned, started, followed and cancelled through the
API; without a web-serving owner the refusal says how to enable the hand-off."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.owner import acquire
from tests.cli.test_handoff import LIMIT_S, _argv, _ctrl_c_as_in_a_terminal, _env, _jobs
from tests.cli.test_interrupt import Studio, _last_line, _step
from tests.engine.training_support import planted_images


def _train_env() -> dict[str, str]:
    return _env() | {"STUDIO_EMBEDDER": "tiny-clip"}  # checkpoint scores without weights


def _photos(folder: Path) -> Path:
    planted_images(folder, 3)
    for n in range(3):
        (folder / f"{n}.txt").write_text(f"zzhero photo {n}\n")
    return folder


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`studio web` owning a data folder; the folder. Stopped with Ctrl+C at the end."""
    tmp = tmp_path_factory.mktemp("handoff-train")
    data = tmp / "data"
    proc = subprocess.Popen(
        _argv(data, "web", "--port", "0"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=_train_env(), cwd=tmp, preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("web studio: http://127.0.0.1:"), (line, proc.poll())
        yield data
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LIMIT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _train(data: Path, folder: Path, name: str, steps: int, *extra: str) -> list[str]:
    args = ("train", "--images", str(folder), "--name", name, "--base", "tiny-sd", "--steps", str(steps))
    return _argv(data, *args, "--trigger", "zzhero", "--force", *extra)


@pytest.mark.slow
def test_train_hands_its_run_to_the_web_serving_owner(trainer: Path, tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos")
    done = subprocess.run(
        _train(trainer, folder, "Hero", 6, "--rank", "2"), capture_output=True, text=True, env=_train_env(),
        timeout=LIMIT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "set 'Hero': 3 new image(s) of 3" in out
    assert re.search(r"^plan: Hero on tiny-sd, 3 image\(s\), trigger 'zzhero'$", out, re.M), out
    assert re.search(r"^  Rank \(alpha\): 2 \(2\) \(you\)$", out, re.M), out  # the option reached the plan
    job = int(re.search(r"^job (\d+): training in the studio at http://127\.0\.0\.1:\d+ \(run \d+\)$", out, re.M)[1])
    assert re.search(r"^trained 6/6 steps in \d+ s$", out, re.M), out
    assert re.search(r"^registered as 'Hero' \(trigger 'zzhero'\)$", out, re.M), out
    assert _jobs(trainer)[job] == ("done", "web")  # the owner ran it, as the web's job
    assert re.search(rf"job {job}:.*6/6.*loss \d", done.stderr), done.stderr  # steps and loss, from the events
    captions = subprocess.run(
        _argv(trainer, "trainset", "show", "Hero"), capture_output=True, text=True, env=_train_env(), timeout=LIMIT_S
    )
    assert captions.returncode == 0, captions.stderr
    assert all(f"zzhero photo {n}" in captions.stdout for n in range(3)), captions.stdout  # the .txt captions


@pytest.mark.slow
def test_ctrl_c_stops_the_handed_off_run_and_says_what_the_studio_keeps(trainer: Path, tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos")
    err = tmp_path / "stderr.txt"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            _train(trainer, folder, "Stopped", 400), stdout=subprocess.DEVNULL, stderr=sink, text=True,
            env=_train_env(), preexec_fn=_ctrl_c_as_in_a_terminal,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + LIMIT_S
        while not re.search(r"job \d+:[^|]*\|[^|]*\| *\d+/400", err.read_text(errors="replace")):
            assert proc.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        job = int(re.search(r"job (\d+):", err.read_text())[1])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LIMIT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = re.split(r"[\r\n]", err.read_text().strip())[-1]
    stopped = re.fullmatch(r"stopped run \d+ in the studio at step (\d+)/400: (.*)", last)
    assert stopped is not None, last
    assert int(stopped[1]) < 400
    assert stopped[2] == "no checkpoint was written yet" or "stay there" in stopped[2], last
    assert _jobs(trainer)[job][0] in ("done", "cancelled")  # ended in the studio, not left running


@pytest.mark.slow
def test_train_cancel_stops_the_run_the_owner_runs(trainer: Path, tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos")
    err = tmp_path / "stderr.txt"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            _train(trainer, folder, "Other", 400), stdout=subprocess.PIPE, stderr=sink, text=True, env=_train_env()
        )
    try:
        deadline = time.monotonic() + LIMIT_S
        while not re.search(r"job \d+:[^|]*\|[^|]*\| *\d+/400", err.read_text(errors="replace")):
            assert proc.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        cancel = subprocess.run(
            _argv(trainer, "train", "cancel", "other"), capture_output=True, text=True, env=_train_env(),
            timeout=LIMIT_S,
        )  # fmt: skip
        assert cancel.returncode == 0, cancel.stderr
        assert re.fullmatch(r"cancelled run \d+ \(Other\) in the studio at step \d+/400: its checkpoints stay there\n",
                            cancel.stdout), cancel.stdout  # fmt: skip
        out, _ = proc.communicate(timeout=LIMIT_S)  # the train command ends with its run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.read_text()
    assert re.search(r"^trained \d+/400 steps in \d+ s$", out, re.M), out  # as a run stopped at its checkpoint
    assert "\nstopped before the end: nothing registered\n" in out, out
    again = subprocess.run(
        _argv(trainer, "train", "cancel", "Other"), capture_output=True, text=True, env=_train_env(), timeout=LIMIT_S
    )
    assert again.returncode == 1 and again.stderr.strip() == (
        "error: The studio runs no training of 'Other' (`studio train list` shows the trainings)."
    ), again.stderr


@pytest.mark.slow
def test_resume_without_an_interrupted_run_is_refused_in_one_line(trainer: Path) -> None:
    done = subprocess.run(
        _argv(trainer, "train", "--name", "Nobody", "--resume"), capture_output=True, text=True, env=_train_env(),
        timeout=LIMIT_S,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip() == (
        "error: No interrupted training of 'Nobody' (`studio train list` shows the trainings)."
    ), done.stderr


@pytest.mark.slow
def test_resume_hands_the_interrupted_run_to_the_web_serving_owner(tmp_path: Path) -> None:
    """A local `studio train` stopped with Ctrl+C at a checkpoint; `studio web` starts on the folder (it keeps the
    run for `--resume`); `studio train --resume` has it go on from that checkpoint and follows it."""
    studio = Studio(tmp_path, STUDIO_CAPTIONER="tiny-blip", STUDIO_EMBEDDER="tiny-clip", STUDIO_BACKEND="thread")
    folder = _photos(tmp_path / "photos")
    proc, err = studio.start(
        "train", "--images", str(folder), "--name", "Back", "--steps", "24", "--trigger", "zzhero", "--force"
    )
    job = _step(err, 24, proc, at_least=3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=LIMIT_S) == 130, err.read_text()
    stopped = re.fullmatch(rf"job {job} stopped at step (\d+); .*", _last_line(err.read_text()))
    assert stopped is not None and studio.jobs()[job] == ("train", "queued"), err.read_text()
    web = subprocess.Popen(
        studio.argv("web", "--port", "0"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=studio.env, cwd=tmp_path, preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    try:
        assert web.stdout is not None
        assert web.stdout.readline().startswith("web studio: http://127.0.0.1:"), web.poll()
        assert studio.jobs()[job] == ("train", "queued")  # the owner keeps it for `--resume`, and does not run it
        resumed = studio.run("train", "--name", "back", "--resume", limit_s=LIMIT_S)
        assert resumed.returncode == 0, resumed.stderr
        out = resumed.stdout
        assert out.startswith("resuming run 1 (Back)\n"), out
        assert re.search(rf"^job {job}: training in the studio at http://127\.0\.0\.1:\d+ \(run 1\)$", out, re.M), out
        at = int(re.search(r"^trained 24/24 steps in \d+ s, resumed at step (\d+)$", out, re.M)[1])
        assert 3 <= at <= int(stopped[1])
        assert re.search(r"^registered as 'Back' \(trigger 'zzhero'\)$", out, re.M), out
        assert re.search(rf"job {job}:.*24/24.*loss \d", resumed.stderr), resumed.stderr  # followed from the events
        assert _jobs(studio.data)[job] == ("done", "web")  # the same job, run by the owner
        web.send_signal(signal.SIGINT)
        assert web.wait(timeout=LIMIT_S) == 130
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()


def test_without_a_web_serving_owner_train_is_refused_with_the_hint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = _photos(tmp_path / "photos")
    lock = acquire(data, "studio run")  # an owner without the web
    try:
        done = subprocess.run(
            _train(data, folder, "Hero", 4), capture_output=True, text=True, env=_train_env(), timeout=LIMIT_S
        )
    finally:
        lock.release()
    assert done.returncode == 1, (done.stdout, done.stderr)
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "in use by `studio run`" in line and "`studio web`" in line
    assert not (data / "trainsets").exists() or not any((data / "trainsets").iterdir())  # nothing copied
