"""The describe kind: /describe turns an image into candidate prompts, each one click from a generation.

The caller awaits the prompts (they are answered inline, not delivered), and they stay in the job's
row, so the buttons under them work after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Self

from engine import SOURCE, DescribeOutcome, DescribeTask, WorkOrder
from storage.records import Job
from studio.contract import BatchTickets, Caller, JobTicket
from studio.errors import NotFound, Refused, StudioError
from studio.images.api import MAX_DESCRIBE, DescribeResult, GenerateInput
from studio.images.generate import GenerateService
from studio.jobs.kind import Completion, JobKind, check_version
from studio.jobs.queue import GENERIC_FAILURE, JobQueue
from studio.models.service import ModelService
from studio.uploads import Uploads

DESCRIBE_WAIT_S = 13 * 60  # under Discord's 15-minute interaction token, with room to answer


@dataclass(frozen=True)
class DescribeRequest:
    VERSION: ClassVar[int] = 1

    source_image: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "source_image": self.source_image, "count": self.count}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        version = check_version(data, cls.VERSION, "description")
        try:  # before v1 the count had its own key
            return cls(str(data["source_image"]), int(data["describe_count" if version == 0 else "count"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("This description's stored request is incomplete; run /describe again.") from exc


class DescribeKind(JobKind[DescribeRequest]):
    name = "describe"
    label = "Describing"
    answered_inline = True  # /describe awaits its prompts; it has no delivery of its own
    retry = "fail"  # after a crash nobody waits for the answer
    default_unit_s = 3.0

    def __init__(self, models: ModelService | None = None) -> None:
        self._models = models

    def parse(self, data: Mapping[str, Any]) -> DescribeRequest:
        return DescribeRequest.from_json(data)

    def dump(self, request: DescribeRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: DescribeRequest) -> str:
        return f"describe an image ({request.count} prompts)"

    def input_files(self, request: DescribeRequest) -> Iterable[tuple[Path, str]]:
        return [(Path(request.source_image), SOURCE)]

    async def order(self, job: Job, request: DescribeRequest) -> WorkOrder:
        task = DescribeTask(request.count, await self._for_model())
        return WorkOrder(job.id, "describe", task, {SOURCE: Path(request.source_image)})

    async def _for_model(self) -> str | None:
        """The base model (preset id) the prompts will be generated with: the default one, which may have its own
        captioner (tiny-world's captions must be prompts it knows)."""
        if self._models is None:
            return None
        try:
            return (await self._models.resolve(None)).spec.preset.id
        except StudioError:  # a default model that is gone: the configured captioner still describes
            return None

    async def complete(self, job: Job, request: DescribeRequest, outcome: DescribeOutcome) -> Completion:
        # The prompts live in the job row: the buttons under them find them there, also after a restart.
        return Completion(result={"v": 1, "prompts": list(outcome.prompts)})


class DescribeService:
    """Implements `DescribeApi`."""

    def __init__(self, queue: JobQueue, generate: GenerateService, uploads: Uploads) -> None:
        self._queue = queue
        self._generate = generate
        self._uploads = uploads

    async def describe(self, caller: Caller, image: bytes, count: int = 4) -> DescribeResult:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_DESCRIBE:
            raise StudioError(f"Count must be a whole number from 1 to {MAX_DESCRIBE} (got {count!r}).")
        limits = await self._queue.admission.check_access(caller)
        upload = await self._uploads.image(image)
        ticket = await self._queue.submit(caller, "describe", DescribeRequest(str(upload.path), count), limits=limits)
        try:
            # The caller's interaction lasts 15 minutes: answer before then, whatever the queue does.
            done = await self._queue.wait(ticket.job_id, limit_s=DESCRIBE_WAIT_S)
        except TimeoutError:
            await self._queue.cancel(replace(caller, may_moderate=True), ticket.job_id)
            raise StudioError("The queue is too long to describe this image now; try again in a few minutes.") from None
        if done.status == "done":
            return DescribeResult(done.id, _prompts(done))
        if done.status == "cancelled":
            raise StudioError("The description was cancelled.")
        raise StudioError(done.error or GENERIC_FAILURE)

    async def described(self, job_id: int) -> DescribeResult:
        job = await self._queue.find(job_id)
        if job is None or job.kind != "describe":
            raise NotFound("This description no longer exists. Run /describe again.")
        if job.status != "done":
            raise Refused("This description has not finished.")
        return DescribeResult(job.id, _prompts(job))

    async def generate_described(self, caller: Caller, job_id: int, index: int | None) -> BatchTickets:
        prompts = (await self.described(job_id)).prompts
        if index is None:
            chosen, count = list(prompts), 1  # "generate all": one image per prompt
        elif isinstance(index, int) and 0 <= index < len(prompts):
            chosen, count = [prompts[index]], None
        else:
            raise NotFound(f"Description #{job_id} has no prompt {index}.")
        tickets: list[JobTicket] = []
        for n, prompt in enumerate(chosen):
            # Only the first job can show on the interaction's response; the others get channel messages.
            who = caller if n == 0 else replace(caller, interaction_token=None, token_expires_at=None)
            try:
                tickets.append(await self._generate.submit(who, GenerateInput(prompt=prompt, count=count)))
            except StudioError as exc:
                if not tickets:
                    raise
                return BatchTickets(tuple(tickets), exc.message)
        return BatchTickets(tuple(tickets))


def _prompts(job: Job) -> tuple[str, ...]:
    return tuple((job.result or {}).get("prompts", []))
