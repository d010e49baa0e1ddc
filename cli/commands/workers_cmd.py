"""`studio workers`: the engine's workers, whatever the backend: device, GPU and memory, precision, models, jobs."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import click

from cli.commands._support import Context, run_async
from studio.workers import WorkerInfo, WorkersView

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


def worker_line(w: WorkerInfo, kinds: dict[int, str] | None = None, *, models_known: bool = True) -> str:
    """One worker in one line: name, where, device and GPU, precision, models held, jobs."""
    kinds = kinds or {}
    gpu = f"{w.gpu_name or 'GPU'} {w.gpu_memory_gb:.0f} GB" if w.gpu_memory_gb is not None else "no GPU"
    where = f" ({w.where})" if w.where else ""
    models = (", ".join(w.loaded_models) or "no model loaded") if models_known else "models held unknown here"
    jobs = ", ".join(f"job {job} ({kinds[int(job)]})" if int(job) in kinds else f"job {job}" for job in w.jobs)
    state = "" if w.alive else "not answering; "
    return f"{w.name}{where}: {w.device}, {gpu}, {w.precision}; {models}; {state}{jobs or 'idle'}"


def worker_lines(view: WorkersView) -> list[str]:
    lines = [worker_line(w, view.job_kinds, models_known=view.models_known) for w in view.workers]
    return lines + ([view.note] if view.note else [])


@click.command("workers")
@click.option("--address", help="A Ray cluster to ask (default: STUDIO_RAY_ADDRESS when STUDIO_BACKEND=ray).")
@click.pass_obj
def workers(obj: Context, address: str | None) -> None:
    """List the engine's workers: device, GPU and memory, precision, base models held, current jobs."""
    backend = obj.settings.backend
    if backend.kind != "ray" and address is None:
        from studio.workers import local_workers

        view = run_async(lambda: local_workers(obj.settings))
    else:
        view = WorkersView(tuple(_ray(address or backend.ray_address or None)), {})
    for line in worker_lines(view):
        click.echo(line)
    if not view.workers:
        click.echo("no studio workers on this cluster: is the bot running?")


def _ray(target: str | None) -> list[WorkerInfo]:
    """The Ray cluster's studio workers, or a one-line error: no Ray, nothing at the address, no answer."""
    from studio.errors import StudioError
    from studio.workers import ray_workers

    problem = probe(target) if target else None
    if problem is not None:
        raise click.ClickException(
            f"No Ray cluster at {target}: {problem}. Check --address (or STUDIO_RAY_ADDRESS): `ray start --head` "
            "prints it."
        )
    logging.getLogger("ray").setLevel(logging.ERROR)  # its retry warnings are not this command's answer
    try:
        return _within(ANSWER_S, lambda: ray_workers(target))
    except StudioError as exc:
        raise click.ClickException(exc.user_message) from None
    except TimeoutError:
        raise click.ClickException(
            f"{target or 'The local Ray cluster'} did not answer as a Ray cluster within {ANSWER_S:.0f} s: "
            "check --address (or STUDIO_RAY_ADDRESS)."
        ) from None
    except ConnectionError as exc:
        raise click.ClickException(
            f"No Ray cluster to ask: {str(exc).rstrip('.')}. Is the bot running with STUDIO_BACKEND=ray?"
        ) from None
