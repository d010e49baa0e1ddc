"""`studio workers`: the Ray workers running the studio's jobs, their GPU, the base models they hold, their jobs."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import click

from cli.commands._support import Context

PROBE_S = 5.0  # how long an address may take to answer before the command gives up
GCS_PORT, CLIENT_PORT = 6379, 10001  # Ray's defaults: `host` alone, and `ray://host`
ANSWER_S = 30.0  # how long a listening address may take to answer as a Ray cluster
T = TypeVar("T")


def probe(address: str, timeout_s: float = PROBE_S) -> str | None:
    """None when something listens at a Ray address (`host:port`, `ray://host[:port]`), else why not, in words.

    Ray itself retries an unreachable address for many minutes, printing warnings: this answers in seconds.
    """
    if address in ("auto", "local"):
        return None
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        port = parts.port or (CLIENT_PORT if parts.scheme == "ray" else GCS_PORT)
    except ValueError:
        return f"{address!r} is not host:port"
    if not parts.hostname:
        return f"{address!r} names no host"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return None
    except TimeoutError:
        return f"{parts.hostname}:{port} did not answer within {timeout_s:.0f} s"
    except OSError as exc:
        return f"{parts.hostname}:{port} cannot be reached ({exc.strerror or exc})"


def _within(limit_s: float, call: Callable[[], T]) -> T:
    """`call()`, or TimeoutError after `limit_s`: ray.init on an address that is not a Ray cluster retries for
    minutes and cannot be interrupted, so it runs in a daemon thread the command leaves behind when it exits."""
    done: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def work() -> None:
        try:
            done.put((True, call()))
        except BaseException as exc:  # handed to the command's thread
            done.put((False, exc))

    threading.Thread(target=work, name="ray-probe", daemon=True).start()
    try:
        ok, value = done.get(timeout=limit_s)
    except queue.Empty:
        raise TimeoutError from None
    if not ok:
        raise value
    return cast(T, value)


def worker_lines(statuses: list[dict[str, Any]]) -> list[str]:
    lines = []
    for w in statuses:
        gpus = ",".join(w["gpu_ids"]) or "-"
        models = ", ".join(w["models"]) or "no model loaded"
        jobs = ", ".join(f"job {job} ({task})" for job, task in w["jobs"].items()) or "idle"
        lines.append(f"{w['name']}: {w['node']} pid {w['pid']}, GPU {gpus} ({w['device']}); {models}; {jobs}")
    return lines


@click.command("workers")
@click.option("--address", help="The Ray cluster (default: STUDIO_RAY_ADDRESS, else the one running here).")
@click.pass_obj
def workers(obj: Context, address: str | None) -> None:
    """List the Ray workers (STUDIO_BACKEND=ray): GPU, base models held, current jobs."""
    backend = obj.settings.backend
    if backend.kind != "ray" and address is None:
        click.echo("The studio runs its jobs locally (STUDIO_BACKEND=local): one GPU thread in the bot's process.")
        return
    try:
        from engine.backends.ray_backend import worker_statuses
    except ImportError:
        raise click.ClickException("Ray is not installed: pip install -e '.[ray]'") from None
    target = address or backend.ray_address or None
    problem = probe(target) if target else None
    if problem is not None:
        raise click.ClickException(
            f"No Ray cluster at {target}: {problem}. Check --address (or STUDIO_RAY_ADDRESS): `ray start --head` "
            "prints it."
        )
    logging.getLogger("ray").setLevel(logging.ERROR)  # its retry warnings are not this command's answer
    try:
        statuses = _within(ANSWER_S, lambda: worker_statuses(target))
    except TimeoutError:
        raise click.ClickException(
            f"{target or 'The local Ray cluster'} did not answer as a Ray cluster within {ANSWER_S:.0f} s: "
            "check --address (or STUDIO_RAY_ADDRESS)."
        ) from None
    except ConnectionError as exc:
        raise click.ClickException(
            f"No Ray cluster to ask: {str(exc).rstrip('.')}. Is the bot running with STUDIO_BACKEND=ray?"
        ) from None
    for line in worker_lines(statuses):
        click.echo(line)
    if not statuses:
        click.echo("no studio workers on this cluster: is the bot running?")
