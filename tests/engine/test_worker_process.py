"""The engine process beyond the shared contract: a child that dies, one that hangs, its facts, its log records.

Real child processes on the scripted host (`tests/engine/scripted.py`); gates between the test and the work are
files, as in the contract suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.backends import WorkerLost
from engine.backends.process import ProcessBackend
from engine.backends.wire import EngineProcessError, dump_error, load_trusted, rebuilt_error
from engine.errors import Cancelled, EngineError
from tests.engine.scripted import ScriptHost, order, wait_for_file


@pytest.fixture
async def backend() -> AsyncIterator[ProcessBackend]:
    made = ProcessBackend(ScriptHost, slots=2)
    await made.ready()
    yield made
    await asyncio.wait_for(made.shutdown(), 30)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_child_killed_mid_job_fails_it_with_worker_lost_and_a_fresh_child_runs_the_next(
    backend: ProcessBackend, tmp_path: Path
) -> None:
    first_pid = await backend.ready()
    started = tmp_path / "started"
    running = backend.submit(order(1, ("touch", str(started)), ("until_cancelled",)))
    waiting = backend.submit(order(2, ("where",)))  # waits behind it, on this side: the child has one per lane
    assert await asyncio.to_thread(wait_for_file, started)
    os.kill(first_pid, signal.SIGKILL)  # what the out-of-memory killer does
    with pytest.raises(WorkerLost, match="killed by SIGKILL"):
        await running.result()
    _ident, _name, waited_in = await waiting.result()  # it never started, so it is not lost: the fresh child runs it
    assert backend.free_slots() == 2
    _ident, _name, pid = await backend.submit(order(3, ("where",))).result()
    assert pid == waited_in and pid not in (first_pid, os.getpid())
    assert backend.restarts == 1 and _gone(first_pid)


async def test_a_job_that_ends_its_process_is_lost_and_the_backend_goes_on(backend: ProcessBackend) -> None:
    with pytest.raises(WorkerLost, match="exited with code 3"):
        await backend.submit(order(1, ("exit",))).result()
    assert await backend.submit(order(2, ("value", "after"))).result() == "after"


async def test_shutdown_stops_the_child_cleanly() -> None:
    backend = ProcessBackend(ScriptHost)
    pid = await backend.ready()
    assert await backend.submit(order(1, ("value", 1))).result() == 1
    await asyncio.wait_for(backend.shutdown(), 30)
    assert _gone(pid)


async def test_shutdown_kills_a_child_whose_job_ignores_the_cancel(tmp_path: Path) -> None:
    backend = ProcessBackend(ScriptHost, stop_limit_s=0.5)
    pid = await backend.ready()
    started = tmp_path / "started"
    stuck = backend.submit(order(1, ("touch", str(started)), ("sleep", 60)))  # never checks its cancel flag
    assert await asyncio.to_thread(wait_for_file, started)
    await asyncio.wait_for(backend.shutdown(), 20)
    with pytest.raises(Cancelled):
        await stuck.result()
    assert _gone(pid)


async def test_shutdown_before_the_child_is_ready_kills_it_at_once() -> None:
    backend = ProcessBackend(ScriptHost)
    await asyncio.wait_for(backend.shutdown(), 20)
    assert backend.free_slots() == 0


async def test_workers_reports_the_childs_device_and_jobs(backend: ProcessBackend, tmp_path: Path) -> None:
    (idle,) = await backend.workers()
    assert (idle.name, idle.device, idle.gpu_name, idle.gpu_memory_gb) == ("engine-process", "cpu", None, None)
    assert (idle.precision, idle.busy, idle.jobs, idle.alive) == ("fp32", False, (), True)
    release = tmp_path / "release"
    handle = backend.submit(order(7, ("gate", str(release))))
    (busy,) = await backend.workers()
    assert busy.busy and busy.jobs == (7,)
    release.touch()
    await handle.result()


async def test_the_childs_log_records_reach_this_process(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the child logs at this process's level when it starts
    backend = ProcessBackend(ScriptHost)
    try:
        pid = await backend.ready()
        handle = backend.submit(order(5, ("until_cancelled",)))
        await asyncio.sleep(0.05)
        handle.cancel()
        with pytest.raises(Cancelled):
            await handle.result()
    finally:
        await asyncio.wait_for(backend.shutdown(), 30)  # the child's records all arrive before it has exited
    assert any(r.process == pid and "job_id=5 cancelled" in r.getMessage() for r in caplog.records)


async def test_a_failing_job_is_logged_once_with_the_childs_traceback(
    backend: ProcessBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="engine.backends")
    with pytest.raises(ValueError, match="boom") as raised:
        await backend.submit(order(9, ("fail", "boom"))).result()
    assert any("engine process" in note and "_run_step" in note for note in raised.value.__notes__)
    await asyncio.sleep(0.2)
    assert len([r for r in caplog.records if "job_id=9" in r.getMessage()]) == 1


def test_an_error_whose_class_this_process_lacks_travels_as_words() -> None:
    # Protocol 0 names classes as text: the error as if its class lived in an engine module not loaded here
    # (engine.diffusion.device, which imports torch, is one in the bot's process).
    blob = pickle.dumps(RuntimeError("no GPU"), protocol=0).replace(
        b"cexceptions\nRuntimeError", b"cengine.nowhere\nGone"
    )
    for engine_error in (True, False):
        error = rebuilt_error((blob, "Gone", "no GPU", engine_error, ""), pid=1)
        assert type(error) is (EngineError if engine_error else EngineProcessError)
        assert str(error) == ("no GPU" if engine_error else "Gone: no GPU")


class NeedsTwo(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


def test_an_error_that_pickles_but_cannot_be_rebuilt_travels_as_words() -> None:
    blob, type_name, message, engine_error, _trace = dump_error(NeedsTwo("x", "y"))
    assert blob is None and (type_name, message, engine_error) == ("NeedsTwo", "x and y", False)


class _CallsEval:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("1 + 1",))


def test_the_engine_process_takes_orders_and_plain_data_but_names_nothing_else() -> None:
    from functools import partial

    from engine.work import WorkOrder

    sent = {"order": order(3, ("touch", "/tmp/x")), "path": Path("/data"), "factory": partial(ScriptHost)}
    got = load_trusted(pickle.dumps(sent))
    assert isinstance(got["order"], WorkOrder) and got["order"].job_id == 3
    assert got["path"] == Path("/data") and got["factory"].func is ScriptHost
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.eval may not cross into the engine's process"):
        load_trusted(pickle.dumps(_CallsEval()))
    with pytest.raises(pickle.UnpicklingError, match=r"(os|posix)\.system may not cross"):
        load_trusted(pickle.dumps(os.system))


async def test_the_child_runs_at_a_lower_cpu_priority_than_this_process() -> None:
    backend = ProcessBackend(ScriptHost, nice=3)
    try:
        pid = await backend.ready()
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)
    finally:
        await asyncio.wait_for(backend.shutdown(), 30)


async def test_a_job_cancelled_while_it_waits_never_reaches_the_child(backend: ProcessBackend, tmp_path: Path) -> None:
    # The race this guards: the gate opening right after the cancel. Were the waiting job in the child's queue, the
    # child's thread could take it before the cancel crossed the socket (it did, in a few % of runs, when it was).
    await backend.ready()
    for attempt in range(20):
        release, ran = tmp_path / f"release{attempt}", tmp_path / f"ran{attempt}"
        first = backend.submit(order(1, ("gate", str(release))))
        second = backend.submit(order(2, ("touch", str(ran))))
        second.cancel()
        assert backend.free_slots() == 1  # resolved here at once: its slot is free already
        release.touch()
        assert await first.result() is True
        with pytest.raises(Cancelled):
            await second.result()
        assert not ran.exists(), f"attempt {attempt}: the cancelled job ran"
        assert (await backend.workers())[0].jobs == ()
