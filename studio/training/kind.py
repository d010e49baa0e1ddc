"""The train kind: a LoRA trained on the batch lane between other jobs, resumed from its checkpoint after a crash.

The job's request names its run (`training_runs`), which holds the plan; the images were copied into the
run's folder when it started (`training_run_items` lists them), so the set may change meanwhile. At the end the
run's last checkpoint is registered as a model, its checkpoints are stored for votes, and their sample grids are
posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from engine import TrainItem, TrainOutcome, TrainTask, WorkOrder
from storage import Database
from storage.records import Job
from studio.errors import StudioError
from studio.jobs.kind import Completion, JobKind, KindStats, check_version
from studio.models.service import ModelService
from studio.training import journal
from studio.training.plans import StoredPlan
from studio.training.registry import Registry
from studio.training.results import CheckpointPost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    VERSION: ClassVar[int] = 1

    run_id: int
    output_name: str
    set_name: str
    steps: int
    work_s: float  # the plan's estimate of the run's seconds, before any run was measured

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.VERSION,
            "run_id": self.run_id,
            "output_name": self.output_name,
            "set_name": self.set_name,
            "steps": self.steps,
            "work_s": self.work_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        check_version(data, cls.VERSION, "training")
        try:
            return cls(
                int(data["run_id"]),
                str(data["output_name"]),
                str(data["set_name"]),
                int(data["steps"]),
                float(data["work_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("This training's stored request is incomplete; plan it again with /train start.") from exc


class TrainKind(JobKind[TrainRequest]):
    name = "train"
    label = "Training"
    lane = "batch"
    retry = "resume"  # a crash or a kill resumes from the newest checkpoint at the next start
    limited = False  # one run per server is the rule (TrainService), not the member's image jobs
    default_unit_s = 1.0  # units are the plan's seconds: the pace learnt is a correction factor

    def __init__(self, db: Database, models: ModelService, registry: Registry) -> None:
        self._db = db
        self._models = models
        self._registry = registry

    def parse(self, data: Mapping[str, Any]) -> TrainRequest:
        return TrainRequest.from_json(data)

    def dump(self, request: TrainRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: TrainRequest) -> str:
        return f"LoRA '{request.output_name}' from set '{request.set_name}' ({request.steps} steps)"

    def units(self, request: TrainRequest) -> float:
        return max(1.0, request.work_s)

    def estimate_s(self, request: TrainRequest, stats: KindStats) -> float:
        return stats.per_unit_s * self.units(request)

    async def order(self, job: Job, request: TrainRequest) -> WorkOrder:
        run = await self._db.training_runs.get(request.run_id)
        if run is None:
            raise StudioError("This training's plan is gone; plan it again with /train start.")
        items = tuple(TrainItem(Path(path), caption) for path, caption in await self._db.training_runs.items(run.id))
        if run.status != "started" or not items:
            raise StudioError(f"Training run {run.id} has already ended, or has no images; /train list shows it.")
        plan = StoredPlan.from_json(run.plan)
        model = await self._models.resolve(run.base_model)
        task = TrainTask(
            model=model.spec,
            items=items,
            config=plan.config,
            run_dir=self._registry.run_dir(run.id),
            adapter=f"job_{job.id}",  # never "train": that name collides with nn.Module.train
            output_name=run.output_name,
            trigger_word=run.trigger_word,
            lineage=dict(plan.lineage),
        )
        return WorkOrder(job.id, "train", task)

    async def progressed(
        self, job: Job, request: TrainRequest, step: int, total: int, detail: str | None, image: str | None
    ) -> None:
        """Keep the step in the run's journal (the web's run page draws the loss and tails the log from it)."""
        run_dir = self._registry.run_dir(request.run_id)
        try:
            await asyncio.to_thread(journal.append, run_dir, step, total, detail, image)
        except OSError as exc:  # a full disk must not stop the training: only its journal misses a line
            log.warning("training run %s: journal not written (%s)", request.run_id, exc.strerror)

    async def complete(self, job: Job, request: TrainRequest, outcome: TrainOutcome) -> Completion:
        run = await self._db.training_runs.get(request.run_id)
        if run is None:
            raise StudioError("This training's plan was deleted while it ran; its files are kept on disk.")
        result, posts = await self._registry.conclude(run, job, outcome)

        async def remember(message_ids: list[int | None]) -> None:
            for post, message_id in zip(posts, message_ids, strict=True):
                if message_id is not None:
                    await self._db.training_runs.checkpoint_posted(post.checkpoint.id, message_id)

        stored: dict[str, Any] = {"v": 1, "run_id": run.id, "model": result.model_name, "stopped": result.stopped}
        stored |= {"steps_done": result.steps_done, "elapsed_s": round(result.elapsed_s, 1)}
        extras: tuple[CheckpointPost, ...] = tuple(posts)
        ended = "stopped" if result.stopped else f"done: registered as {result.model_name}"
        ended += f" ({result.steps_done} steps)"
        with contextlib.suppress(OSError):  # the journal is for the eyes; the run's result is stored regardless
            await asyncio.to_thread(journal.note, self._registry.run_dir(run.id), ended)
        # The pace is learnt from the steps this attempt ran (a resumed or stopped run did fewer than planned).
        ran = outcome.steps_done - (outcome.resumed_at or 0)
        done = self.units(request) * max(ran, 0) / max(request.steps, 1)
        return Completion(result=stored, deliverable=result, extras=extras, on_posted=remember, units_done=done)
