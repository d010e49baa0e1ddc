"""The generate kind: /generate, its rerolls and remixes, and the CLI's `studio generate`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import ImagesOutcome, WorkOrder
from storage.records import Job
from studio.contract import Caller, JobTicket
from studio.images.api import GenerateInput
from studio.images.images import ImageDraft, ImageKind, ImageRequest, ImagesDone, images_completion
from studio.images.submitter import ImageSubmitter
from studio.jobs.kind import Completion


class GenerateKind(ImageKind[ImageRequest]):
    """Text to image (and plain img2img, for reruns of variations that have no instruction)."""

    name = "generate"

    def parse(self, data: Mapping[str, Any]) -> ImageRequest:
        return ImageRequest.from_json(data)

    def from_image_request(self, request: ImageRequest) -> ImageRequest:
        return request

    async def effective(self, job: Job) -> ImageRequest:
        return self.parse(job.request)

    async def order(self, job: Job, request: ImageRequest) -> WorkOrder:
        task, _model = await self.generate_task(request)
        inputs = {role: path for path, role in request.files()}
        return WorkOrder(job.id, "generate", task, inputs, self.out_dir(job))

    async def complete(self, job: Job, request: ImageRequest, outcome: ImagesOutcome) -> Completion:
        records = await self.store(job, request, outcome)
        done = ImagesDone(tuple(r.id for r in records), outcome.elapsed_s)
        return images_completion(records, await self.job_result(job, request), done.to_json())


class GenerateService:
    """Implements `GenerateApi`."""

    def __init__(self, submitter: ImageSubmitter) -> None:
        self._submitter = submitter

    async def submit(self, caller: Caller, options: GenerateInput) -> JobTicket:
        settings = options.settings()
        draft = ImageDraft(**settings, prompt=options.prompt, model=options.model, lora_scale=options.lora_scale)
        return await self._submitter.submit(caller, "generate", draft)
