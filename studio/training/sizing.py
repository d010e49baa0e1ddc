"""Which worker a training is sized for, and the plan sized for it (the engine's autoconfig, fed the worker's GPU).

The backend hands a training to whichever worker has a free batch slot, without looking at its memory; so the plan
is sized for the smallest worker alive, and fits wherever it lands. The train task checks it again on the device it
runs on (`engine.tasks.train`), and adapts or refuses it there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from engine import InvalidRequest, ModelPreset, TrainPlan, WorkerInfo, plan_training
from studio.errors import Refused

WorkersQuery = Callable[[], Awaitable[list[WorkerInfo]]]
ASK_S = 30.0  # how long the workers may take to describe themselves


def smallest(workers: Sequence[WorkerInfo]) -> WorkerInfo:
    """The worker a plan must fit: the least GPU memory among those alive (a CPU worker counts as the least)."""
    alive = [w for w in workers if w.alive]
    if not alive:
        raise Refused("No engine worker is up to size this training for: wait for it to restart, then plan again.")
    return min(alive, key=lambda w: (w.gpu_memory_gb is not None, w.gpu_memory_gb or 0.0, w.name))


async def training_worker(workers: WorkersQuery) -> WorkerInfo:
    """The worker the next plan is sized for, asked of the backend."""
    try:
        return smallest(await asyncio.wait_for(workers(), ASK_S))
    except TimeoutError:
        raise Refused(f"The engine's workers did not answer within {ASK_S:.0f} s; try again in a moment.") from None


def plan_for(
    worker: WorkerInfo,
    preset: ModelPreset,
    *,
    images: int,
    overrides: Mapping[str, Any],
    sample_prompts: Sequence[str],
) -> TrainPlan:
    """The run's plan on `worker`'s GPU memory and precision; Refused with the setting and its range when one is out."""
    try:
        return plan_training(
            preset,
            images=images,
            overrides=overrides,
            gpu_gb=worker.gpu_memory_gb,
            precision=worker.training_precision,
            sample_prompts=sample_prompts,
        )
    except InvalidRequest as exc:
        raise Refused(str(exc)) from None
