"""Execution backends: where work orders run (a process of its own, a thread of this one, or Ray actors)."""

from engine.backends.base import (
    LANES,
    BackendClosed,
    ExecutionBackend,
    JobHandle,
    Lane,
    NoFreeSlot,
    OrderRunner,
    ProgressEvent,
    WorkContext,
    WorkerInfo,
    WorkerLost,
)
from engine.backends.process import ProcessBackend
from engine.backends.thread import ThreadBackend

__all__ = [
    "LANES",
    "BackendClosed",
    "ExecutionBackend",
    "JobHandle",
    "Lane",
    "NoFreeSlot",
    "OrderRunner",
    "ProcessBackend",
    "ProgressEvent",
    "ThreadBackend",
    "WorkContext",
    "WorkerInfo",
    "WorkerLost",
]
