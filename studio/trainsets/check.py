"""The trainset-check kind: the checks before training, run by the engine (hashes, sharpness, exposure, CLIP).

Awaited inline by whoever asked (/trainset show, /trainset check, and before /train); nothing is posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from engine import CheckOutcome, CheckSetTask, WorkOrder
from storage.records import Job
from studio.errors import StudioError
from studio.jobs.kind import Completion, JobKind, check_version


@dataclass(frozen=True)
class CheckRequest:
    VERSION: ClassVar[int] = 1

    set_id: int
    paths: tuple[str, ...]
    resolution: int
    model: str | None = None  # the base model's preset id (tiny-world reads its sets with its own embedder)

    def to_json(self) -> dict[str, Any]:
        data = {"v": self.VERSION, "set_id": self.set_id, "paths": list(self.paths), "resolution": self.resolution}
        return data | ({} if self.model is None else {"model": self.model})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        check_version(data, cls.VERSION, "set check")
        try:
            paths = tuple(str(p) for p in data["paths"])
            model = data.get("model")
            return cls(int(data["set_id"]), paths, int(data["resolution"]), None if model is None else str(model))
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("This check's stored request is incomplete; run it again.") from exc


class CheckKind(JobKind[CheckRequest]):
    name = "trainset_check"
    label = "Checking"
    answered_inline = True
    retry = "fail"
    limited = False  # looking at a set never waits for the member's own generations
    default_unit_s = 0.2

    def parse(self, data: Mapping[str, Any]) -> CheckRequest:
        return CheckRequest.from_json(data)

    def dump(self, request: CheckRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: CheckRequest) -> str:
        return f"check {len(request.paths)} training image(s)"

    def units(self, request: CheckRequest) -> float:
        return float(max(1, len(request.paths)))

    async def order(self, job: Job, request: CheckRequest) -> WorkOrder:
        task = CheckSetTask(tuple(Path(p) for p in request.paths), request.resolution, request.model)
        return WorkOrder(job.id, "check_set", task)

    async def complete(self, job: Job, request: CheckRequest, outcome: CheckOutcome) -> Completion:
        findings = [
            {"number": f.number, "codes": list(f.codes), "notes": list(f.notes)} for f in outcome.findings if f.codes
        ]
        return Completion(result={"v": 1, "findings": findings, "embedder": outcome.embedder})
