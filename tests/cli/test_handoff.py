"""A job command hands its job to the folder's owner when that owner serves the web: real processes, `studio web`
and `studio generate` on tiny-sd; without a web-serving owner the refusal says how to enable the hand-off."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from cli.commands._handoff import TOKEN_FILE, find_owner
from studio.owner import WEB_ADDRESS_NAME, acquire, announce_web, web_address, withdraw_web
from web.auth import TOKEN_FILE as WEB_TOKEN_FILE

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 240.0  # a bound on a hang, not a speed expectation


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env.update(PYTHONPATH=str(ROOT), STUDIO_DEVICE="cpu", STUDIO_BACKEND="thread")
    env.update(STUDIO_CAPTIONER="tiny-blip", STUDIO_SEGMENTER="tiny-clipseg")  # describe, vary, edit on tiny models
    return env


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background suite starts children with SIGINT ignored


def _argv(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cli", "--data-dir", str(data), *args]


def _jobs(data: Path) -> dict[int, tuple[str, str]]:
    with sqlite3.connect(data / "studio.db", timeout=10) as conn:
        return {i: (status, origin) for i, status, origin in conn.execute("SELECT id, status, origin FROM jobs")}


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`studio web` on a free port, owning a data folder; the folder. Stopped with Ctrl+C at the end."""
    tmp = tmp_path_factory.mktemp("handoff")
    data = tmp / "data"
    proc = subprocess.Popen(
        _argv(data, "web", "--port", "0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        cwd=tmp, preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it listens (or ends)
        assert line.startswith("web studio: http://127.0.0.1:"), (line, proc.poll())
        yield data
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LIMIT_S) == 130
        assert not (data / WEB_ADDRESS_NAME).exists()  # the address goes with the server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_generate_hands_its_job_to_the_web_serving_owner(owner: Path, tmp_path: Path) -> None:
    address = owner / WEB_ADDRESS_NAME
    assert address.stat().st_mode & 0o777 == 0o600
    assert json.loads(address.read_text())["url"].startswith("http://127.0.0.1:")
    out = tmp_path / "out"
    argv = _argv(owner, "generate", "a red cube", "-n", "2", "-m", "tiny-sd", "--steps", "2", "--seed", "3")
    done = subprocess.run([*argv, "--out", str(out)], capture_output=True, text=True, env=_env(), timeout=LIMIT_S)
    assert done.returncode == 0, done.stderr
    job = int(re.match(r"job (\d+): 2 image\(s\), model tiny-sd, seed 3, 2 steps", done.stdout).group(1))
    assert _jobs(owner)[job] == ("done", "web")  # run by the owner, as the web's job
    names = sorted(path.name for path in out.iterdir())
    assert names == [f"job{job}_0_seed3.png", f"job{job}_1_seed4.png", f"job{job}_grid.png"]
    assert "image 1 (id " in done.stdout and str(out / f"job{job}_0_seed3.png") in done.stdout
    assert re.search(rf"job {job}: *\d+%.*2/2", done.stderr)  # the progress bar, from the job's event stream


@pytest.mark.slow
def test_describe_vary_and_edit_hand_off_their_uploads(owner: Path, tmp_path: Path) -> None:
    picture, mask, out = tmp_path / "in.png", tmp_path / "mask.png", tmp_path / "out"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(picture)
    white = Image.new("L", (64, 64), 0)
    white.paste(255, (16, 16, 48, 48))
    white.save(mask)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(_argv(owner, *args), capture_output=True, text=True, env=_env(), timeout=LIMIT_S)
        assert done.returncode == 0, done.stderr
        return done

    described = run("describe", str(picture), "-n", "2").stdout.splitlines()
    assert [line[:3] for line in described] == ["1. ", "2. "] and all(len(line) > 3 for line in described)
    varied = run("vary", str(picture), "make it blue", "-n", "1", "-m", "tiny-sd", "--out", str(out)).stdout
    assert varied.startswith("Output prompt: ") and "blue" in varied.splitlines()[0]
    vary_job = int(re.search(r"^job (\d+): 1 image\(s\), model tiny-sd", varied, re.M).group(1))
    edited = run(
        "edit", str(picture), "make it blue", "--mask", str(mask), "-n", "1", "-m", "tiny-sd", "--out", str(out)
    )
    edit_job = int(re.search(r"^job (\d+): 1 image\(s\)", edited.stdout, re.M).group(1))
    assert f"mask overlay: {out / f'job{edit_job}_mask_overlay.png'}" in edited.stdout
    jobs = _jobs(owner)
    assert [jobs[job] for job in (vary_job - 1, vary_job, edit_job)] == [("done", "web")] * 3  # describe, vary, edit
    names = {path.name for path in out.iterdir()}
    assert {name.split("_")[0] for name in names} == {f"job{vary_job}", f"job{edit_job}"}
    assert len(names) == 3  # vary's image; edit's image and its mask overlay


@pytest.mark.slow
def test_the_owners_refusal_is_the_commands_one_line_error(owner: Path, tmp_path: Path) -> None:
    picture, black = tmp_path / "in.png", tmp_path / "black.png"
    Image.new("RGB", (64, 64), "gray").save(picture)
    Image.new("L", (64, 64), 0).save(black)
    argv = _argv(owner, "edit", str(picture), "make it blue", "--mask", str(black), "-n", "1", "-m", "tiny-sd")
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=LIMIT_S)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [
        "error: Mask: The mask is all black, so there is nothing to edit. Paint the areas to change in white and "
        "upload it again."
    ]  # as the core words it when the command runs the job itself


@pytest.mark.slow
def test_ctrl_c_cancels_the_handed_off_job(owner: Path, tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    argv = _argv(owner, "generate", "interrupt me", "-n", "8", "-m", "tiny-sd", "--steps", "50")
    with err.open("w") as sink:
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=sink, text=True, env=_env(), preexec_fn=_ctrl_c_as_in_a_terminal
        )
    try:
        deadline = time.monotonic() + LIMIT_S
        while not re.search(r"job (\d+):[^|]*\|[^|]*\| *\d+/50", err.read_text(errors="replace")):
            assert proc.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        job = int(re.search(r"job (\d+):", err.read_text()).group(1))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LIMIT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert re.split(r"[\r\n]", err.read_text().strip())[-1] == f"cancelled job {job}"
    assert _jobs(owner)[job] == ("cancelled", "web")


@pytest.mark.slow
def test_a_token_the_owner_does_not_know_is_refused_in_words(owner: Path) -> None:
    token = owner / TOKEN_FILE
    kept = token.read_text()
    token.write_text("rotated-since\n")  # as `studio web token --rotate` leaves it while the owner runs on
    try:
        done = subprocess.run(
            _argv(owner, "generate", "x", "-n", "1", "-m", "tiny-sd"), capture_output=True, text=True, env=_env(),
            timeout=LIMIT_S,
        )  # fmt: skip
    finally:
        token.write_text(kept)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "refused the token in web-token: was it rotated" in done.stderr
    assert "rotated-since" not in done.stderr


@pytest.mark.parametrize("command", ["generate", "describe", "vary"])
def test_without_a_web_serving_owner_the_refusal_says_how_to_hand_off(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    picture = tmp_path / "in.png"
    Image.new("RGB", (32, 32), "gray").save(picture)
    args = {"generate": ("a boat",), "describe": (str(picture),), "vary": (str(picture), "make it blue")}[command]
    lock = acquire(data, "studio run")  # an owner without the web
    try:
        done = subprocess.run(
            _argv(data, command, *args, "-n", "1"), capture_output=True, text=True, env=_env(), timeout=LIMIT_S
        )
    finally:
        lock.release()
    assert done.returncode == 1, (done.stdout, done.stderr)
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "in use by `studio run`" in line
    assert "`STUDIO_WEB_PORT=8765 studio run`" in line and "`studio web`" in line


def test_the_address_counts_only_while_its_writer_owns_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert TOKEN_FILE == WEB_TOKEN_FILE
    lock = acquire(data, "studio web")
    try:
        assert web_address(data) is None  # owned, but serving no web
        announce_web(data, "http://127.0.0.1:9/")
        assert web_address(data) == "http://127.0.0.1:9/"
        assert find_owner(data) is None  # no token to hand off with
        (data / TOKEN_FILE).write_text("secret-token\n")
        found = find_owner(data)
        assert found is not None and (found.url, found.token) == ("http://127.0.0.1:9", "secret-token")
        assert "secret-token" not in repr(found)
    finally:
        lock.release()
    assert web_address(data) is None  # the owner ended (its lock names nobody): the file is stale
    withdraw_web(data)
    assert not (data / WEB_ADDRESS_NAME).exists()
