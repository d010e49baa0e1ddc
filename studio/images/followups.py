"""The buttons under a finished result: reroll, remix, vary, upscale, delete; and the result itself."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from storage import Database
from storage.records import ImageRecord, Job
from studio.contract import Caller, JobTicket
from studio.errors import NotFound, Refused
from studio.images.api import JobResult, ResultImage, VaryStrength
from studio.images.images import ImageDraft, ImageKind, result_image
from studio.images.submitter import ImageSubmitter
from studio.jobs.queue import JobQueue

log = logging.getLogger(__name__)

VARY_STRENGTH: dict[str, float] = {"subtle": 0.35, "strong": 0.7}


class FollowUps:
    """Implements `FollowUpsApi` for every kind of job that makes images."""

    def __init__(self, db: Database, queue: JobQueue, submitter: ImageSubmitter) -> None:
        self._db = db
        self._queue = queue
        self._submitter = submitter

    async def _image_job(self, job_id: int) -> tuple[Job, ImageKind]:
        job = await self._queue.source_job(job_id)
        kind = self._queue.kind(job.kind)
        if not isinstance(kind, ImageKind):
            raise Refused(f"Job {job_id} made no images.")
        return job, kind

    async def _again(self, job_id: int) -> tuple[Job, ImageKind, ImageDraft]:
        job, kind = await self._image_job(job_id)
        return job, kind, ImageDraft.again(await kind.effective(job), job.id)

    async def reroll(self, caller: Caller, job_id: int) -> JobTicket:
        job, kind, draft = await self._again(job_id)
        return await self._submitter.submit(caller, job.kind, draft, like=kind.parse(job.request))

    async def remix(self, caller: Caller, job_id: int, prompt: str) -> JobTicket:
        job, kind, draft = await self._again(job_id)
        return await self._submitter.submit(
            caller, job.kind, replace(draft, prompt=prompt), like=kind.parse(job.request)
        )

    async def remix_prompt(self, job_id: int) -> str:
        job, kind = await self._image_job(job_id)
        return (await kind.effective(job)).prompt

    async def _image(self, job_id: int, index: int) -> ImageRecord:
        job = await self._queue.source_job(job_id)
        if job.status != "done":
            raise Refused("This job has not finished yet.")
        for image in await self._db.images.for_job(job_id):
            if image.index == index:
                if not await asyncio.to_thread(image.path.exists):
                    raise NotFound("That image's file is gone from the server.")
                return image
        raise NotFound(f"Job {job_id} has no image {index + 1}.")

    async def vary(self, caller: Caller, job_id: int, index: int, strength: VaryStrength) -> JobTicket:
        image = await self._image(job_id, index)
        _job, _kind, draft = await self._again(job_id)
        draft = replace(
            draft,
            prompt=image.prompt,  # that image's own (a character sheet's panels each have theirs)
            mode="img2img",
            strength=VARY_STRENGTH[strength],
            source_image=str(image.path),
            mask_image=None,
            width=image.width,
            height=image.height,
            note=f"Variation ({strength}) of image {index + 1} of job {job_id}",
        )
        return await self._submitter.submit(caller, "vary", draft)

    async def upscale(self, caller: Caller, job_id: int, index: int) -> ResultImage:
        await self._queue.admission.check_access(caller)
        return result_image(await self._image(job_id, index))

    async def delete(self, caller: Caller, job_id: int) -> None:
        """Authorise deleting a job's message; an active job is cancelled first. Stored images stay."""
        job = await self._queue.source_job(job_id)
        self._queue.may_manage(caller, job)
        if job.active:
            await self._queue.cancel(caller, job_id)
        log.info("job_id=%s message deleted by user=%s", job_id, caller.user_id)

    async def result(self, job_id: int) -> JobResult:
        job, kind = await self._image_job(job_id)
        if job.status != "done":
            raise Refused("This job has not finished yet.")
        return await kind.job_result(job, await kind.effective(job))
