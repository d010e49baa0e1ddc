"""`studio web`: the address with its token, rotating it, refusing a remote host, and serving until Ctrl+C even
with an event stream open (a real process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import Result

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 60.0  # a bound on a hang, not a speed expectation


def test_the_url_carries_the_token(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("web", "url")
    assert result.exit_code == 0, result.output
    token = (tmp_path / "data" / "web-token").read_text().strip()
    assert result.output.strip() == f"http://127.0.0.1:8765/?token={token}"
    assert run("web", "url").output == result.output  # kept, not made anew


def test_rotating_the_token(run: Callable[..., Result], tmp_path: Path) -> None:
    old = run("web", "token").output.strip()
    rotated = run("web", "token", "--rotate")
    assert rotated.exit_code == 0
    new = rotated.output.splitlines()[0]
    assert new != old and new == (tmp_path / "data" / "web-token").read_text().strip()


def test_a_remote_host_is_refused_unless_asked_for(run: Callable[..., Result]) -> None:
    result = run("web", "--host", "0.0.0.0")
    assert result.exit_code == 1
    assert "STUDIO_WEB_ALLOW_REMOTE=1" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background suite starts children with SIGINT ignored


def test_studio_web_serves_until_ctrl_c_with_a_stream_open(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env.update(PYTHONPATH=str(ROOT), STUDIO_DEVICE="cpu", STUDIO_BACKEND="thread")
    argv = [sys.executable, "-m", "cli", "--data-dir", str(tmp_path / "data"), "web", "--port", "0"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it listens (or ends)
        assert line.startswith("web studio: http://127.0.0.1:"), (line, proc.poll())
        url = line.split(": ", 1)[1].strip()
        base, token = url.split("/?token=")
        with httpx.Client(base_url=base, timeout=LIMIT_S) as browser:
            signed_in = browser.get(f"/?token={token}", follow_redirects=False)
            assert signed_in.status_code == 303
            assert browser.get("/api/models").status_code == 200
            with browser.stream("GET", "/api/events") as stream:
                assert stream.status_code == 200
                proc.send_signal(signal.SIGINT)
                ended = proc.wait(timeout=LIMIT_S)
        assert ended == 130, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (tmp_path / "data" / "studio.lock").read_text()  # the owner's lock was taken, and let go


def test_a_second_owner_is_refused(tmp_path: Path) -> None:
    from studio.owner import acquire

    lock = acquire(tmp_path / "data", "studio run")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
        env.update(PYTHONPATH=str(ROOT), STUDIO_DEVICE="cpu", STUDIO_BACKEND="thread")
        argv = [sys.executable, "-m", "cli", "--data-dir", str(tmp_path / "data"), "web", "--port", "0"]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=LIMIT_S)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "in use by `studio run`" in done.stderr
    finally:
        lock.release()
