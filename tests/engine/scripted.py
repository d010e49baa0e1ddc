"""A host that runs scripted work orders, for testing execution backends without a model.

An order's request is a `Script`: a list of plain steps (report progress, sleep, wait for a gate file,
fail, return a value, ...). Scripts are data and gates are files, so the same tests can run against
a backend whose workers live in other processes.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.backends import WorkContext, WorkerInfo
from engine.errors import Cancelled
from engine.work import WorkOrder

Step = tuple[Any, ...]


@dataclass(frozen=True)
class Named:
    """A stand-in for a model spec: backends route by `request.model.name`."""

    name: str


@dataclass(frozen=True)
class Script:
    steps: tuple[Step, ...]
    model: Named | None = None  # the base model the work "needs": the host counts loads as a pipeline cache would


def order(job_id: int, *steps: Step, model: str | None = None) -> WorkOrder:
    """A work order that runs `steps`, in order; the value of the last step is the outcome."""
    return WorkOrder(job_id=job_id, task="script", request=Script(tuple(steps), Named(model) if model else None))


def wait_for_file(path: Path, limit_s: float = 5.0) -> bool:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _run_step(step: Step, ctx: WorkContext) -> Any:
    op, *args = step
    if op == "value":  # ("value", v): the outcome v
        return args[0]
    if op == "where":  # the worker thread's identity and process
        return (threading.get_ident(), threading.current_thread().name, os.getpid())
    if op == "sleep":
        time.sleep(args[0])
        return None
    if op == "report":  # ("report", step, total)
        ctx.report(args[0], args[1])
        return None
    if op == "steps":  # ("steps", total, pause_s): report 0..total
        for n in range(args[0] + 1):
            time.sleep(args[1])
            ctx.report(n, args[0])
        return "ok"
    if op == "touch":  # signal the test
        Path(args[0]).touch()
        return None
    if op == "gate":  # wait until the test opens the gate (a file appears)
        return wait_for_file(Path(args[0]), args[1] if len(args) > 1 else 5.0)
    if op == "until_cancelled":  # poll the flag until the job is cancelled, then return
        while not ctx.cancelled():
            time.sleep(0.002)
        return "stopped"
    if op == "cancellable":  # ("cancellable", n, pause_s): n reported steps, stopping early on cancel
        for n in range(1, args[0] + 1):
            if ctx.cancelled():
                return ("partial", n)
            ctx.report(n, args[0])
            time.sleep(args[1])
        return "complete"
    if op == "raise_when_cancelled":
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.005)
    if op == "yield":  # a batch job's yield point
        ctx.yield_now()
        return None
    if op == "fail":
        raise ValueError(args[0])
    if op == "exit":  # the worker's process dies (only where the work runs in another process)
        os._exit(3)
    if op == "exit_once":  # ("exit_once", marker): the first attempt's worker dies, a retry goes on
        if not Path(args[0]).exists():
            Path(args[0]).touch()
            os._exit(3)
        return None
    if op == "cancelled":
        raise Cancelled()
    raise AssertionError(f"unknown script step {op!r}")


class ScriptHost:
    """Runs `Script` orders; records which orders ran, in order. It describes itself as a CPU worker unless a
    subclass names a GPU (`GPU`: its name and memory), as the worker a training plan is sized against."""

    GPU: tuple[str, float] | None = None

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.loaded: list[str] = []  # base models loaded, in order (one held at a time, like the pipeline cache)

    def run(self, order: WorkOrder, ctx: WorkContext) -> Any:
        assert isinstance(order.request, Script), order.request
        self.ran.append(order.job_id)
        model = order.request.model
        if model is not None and (not self.loaded or self.loaded[-1] != model.name):
            self.loaded.append(model.name)
        value: Any = None
        for step in order.request.steps:
            value = (os.getpid(), list(self.loaded)) if step == ("loads",) else _run_step(step, ctx)
        return value

    def worker_info(self, name: str) -> WorkerInfo:
        held = (self.loaded[-1],) if self.loaded else ()
        if self.GPU is None:
            return WorkerInfo(name, "cpu", None, None, "fp32", held)
        return WorkerInfo(name, "cuda:0", self.GPU[0], self.GPU[1], "bf16", held)
