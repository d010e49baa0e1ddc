"""The caption kind: background captions for images entering a training set ("<trigger>, <caption>").

Nothing about it is shown (the set shows the captions), it does not count toward a member's job limits,
and a member's own caption, written meanwhile, is never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from engine import CaptionOutcome, CaptionTask, WorkOrder, with_trigger
from storage import Database
from storage.records import Job
from studio.errors import StudioError
from studio.jobs.kind import Completion, JobKind, check_version


@dataclass(frozen=True)
class CaptionRequest:
    VERSION: ClassVar[int] = 1

    set_id: int
    item_ids: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "set_id": self.set_id, "item_ids": list(self.item_ids)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        check_version(data, cls.VERSION, "caption job")
        try:
            return cls(int(data["set_id"]), tuple(int(i) for i in data["item_ids"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("This caption job's stored request is incomplete.") from exc


class CaptionKind(JobKind[CaptionRequest]):
    name = "caption"
    label = "Captioning"
    shown = False
    limited = False
    default_unit_s = 1.0

    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, data: Mapping[str, Any]) -> CaptionRequest:
        return CaptionRequest.from_json(data)

    def dump(self, request: CaptionRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: CaptionRequest) -> str:
        return f"caption {len(request.item_ids)} image(s) of a training set"

    def units(self, request: CaptionRequest) -> float:
        return float(max(1, len(request.item_ids)))

    async def _items(self, request: CaptionRequest) -> list[tuple[int, Path]]:
        found = []
        for item_id in request.item_ids:
            item = await self._db.training_sets.item(item_id)
            if item is not None and item.caption_source == "auto":
                found.append((item.id, item.path))
        return found

    async def order(self, job: Job, request: CaptionRequest) -> WorkOrder:
        items = await self._items(request)
        if not items:
            raise StudioError("Nothing left to caption: the images left the set or have captions from members.")
        task = CaptionTask(tuple(path for _, path in items))
        return WorkOrder(job.id, "caption", task, {}, None)

    async def complete(self, job: Job, request: CaptionRequest, outcome: CaptionOutcome) -> Completion:
        training_set = await self._db.training_sets.get(request.set_id)
        trigger = training_set.trigger_word if training_set is not None else None
        captions = dict(zip(outcome.paths, outcome.captions, strict=True))
        written = 0
        for item_id, path in await self._items(request):  # the items still waiting for the captioner
            caption = captions.get(path)
            if caption and await self._db.training_sets.set_auto_caption(item_id, with_trigger(caption, trigger)):
                written += 1
        return Completion(result={"v": 1, "captioned": written})
