"""Execution backends: where work orders run (today one GPU thread; a Ray cluster later)."""

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
from engine.backends.thread import ThreadBackend

__all__ = [
    "LANES",
    "BackendClosed",
    "ExecutionBackend",
    "JobHandle",
    "Lane",
    "NoFreeSlot",
    "OrderRunner",
    "ProgressEvent",
    "ThreadBackend",
    "WorkContext",
    "WorkerInfo",
    "WorkerLost",
]
