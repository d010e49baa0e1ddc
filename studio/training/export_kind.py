"""The export kind: a run's checkpoint written as the files other tools read, by the engine (it needs torch).

Awaited inline by the registry when a run ends or a member picks another checkpoint; nothing is posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from engine import ExportOutcome, ExportTask, WorkOrder
from storage import Database
from storage.records import Job
from studio.errors import StudioError
from studio.jobs.kind import Completion, JobKind, check_version
from studio.training.plans import StoredPlan


@dataclass(frozen=True)
class ExportRequest:
    VERSION: ClassVar[int] = 1

    run_id: int
    step: int
    lora: str  # the checkpoint's LoRA
    template: str  # the run's own diffusers export
    out_dir: str
    name: str
    family: str

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, **{k: getattr(self, k) for k in self.__dataclass_fields__}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        check_version(data, cls.VERSION, "checkpoint export")
        try:
            return cls(
                int(data["run_id"]),
                int(data["step"]),
                str(data["lora"]),
                str(data["template"]),
                str(data["out_dir"]),
                str(data["name"]),
                str(data["family"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("This export's stored request is incomplete; pick the checkpoint again.") from exc


class ExportKind(JobKind[ExportRequest]):
    name = "export"
    label = "Exporting"
    answered_inline = True
    retry = "fail"  # the registry awaiting it is gone after a restart; picking the checkpoint again exports it
    limited = False  # the studio's own bookkeeping, not a member's image job
    default_unit_s = 2.0

    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, data: Mapping[str, Any]) -> ExportRequest:
        return ExportRequest.from_json(data)

    def dump(self, request: ExportRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: ExportRequest) -> str:
        return f"export '{request.name}' at step {request.step}"

    async def order(self, job: Job, request: ExportRequest) -> WorkOrder:
        run = await self._db.training_runs.get(request.run_id)
        if run is None:
            raise StudioError("This training run no longer exists.")
        config = StoredPlan.from_json(run.plan).config
        task = ExportTask(
            Path(request.lora), Path(request.template), request.name, request.step, config, request.family
        )
        return WorkOrder(job.id, "export", task, out_dir=Path(request.out_dir))

    async def complete(self, job: Job, request: ExportRequest, outcome: ExportOutcome) -> Completion:
        return Completion(result={"v": 1, "diffusers": str(outcome.diffusers.path), "kohya": str(outcome.kohya.path)})
