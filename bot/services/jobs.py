"""The job service: validate → persist → queue → run on the engine → deliver.

The order of jobs is decided here, over SQLite (fair between users), and a job is handed to the
execution backend only when it has a free slot. Every state change is written before it is shown.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot.services import policy
from bot.services.api import (
    BatchTickets,
    Caller,
    DeliveryPort,
    DescribeResult,
    EditImageInput,
    GenerateInput,
    JobResult,
    JobRoute,
    JobTicket,
    Progress,
    QueueEntry,
    QueueView,
    ResultImage,
    VaryImageInput,
    VaryStrength,
)
from bot.services.errors import NotFound, Refused, StudioError
from bot.services.models import ModelService, ResolvedModel
from bot.services.runtime import EngineRuntime, GenerationOutput, ImageInputs
from engine.catalog import ModelSpec, resolve
from engine.errors import Cancelled, EngineError
from engine.types import GenerateRequest
from engine.worker import JobCancelled
from storage import Database
from storage.records import GuildSettings, ImageRecord, Job

log = logging.getLogger(__name__)

VARY_STRENGTH: dict[str, float] = {"subtle": 0.35, "strong": 0.7}
MAX_SEED = 2**32 - 1
LOCAL_LIMITS = GuildSettings(max_steps=150, max_size=4096, max_concurrent_per_user=20, daily_quota=0)
GENERIC_FAILURE = "The engine failed on this job; the error was logged for the admins."
HIDDEN_PROMPT = "(elsewhere)"


@dataclass(frozen=True)
class Draft:
    """A job's request before it is persisted; stored as the job's request JSON."""

    prompt: str
    model: str | None = None
    negative: str = ""
    count: int | None = None
    seed: int | None = None
    aspect: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    lora_scale: float | None = None
    mode: str = "txt2img"
    strength: float | None = None
    source_image: str | None = None  # path of the image that img2img / inpaint starts from
    mask_image: str | None = None
    note: str | None = None
    parent_job: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class JobKind(Protocol):
    """How a kind of job other than plain generation runs: its work on the worker, then its bookkeeping.

    `work` returns the function the execution backend runs; `complete` gets what it returned.
    """

    async def work(self, job: Job) -> Callable[[Any], Any]: ...

    async def complete(self, job: Job, output: Any) -> None: ...


def answered_inline(handler: object) -> bool:
    """Whether a kind's result goes back to a caller that awaits it (no delivery): after a restart nobody does."""
    return bool(getattr(handler, "answered_inline", False))


@dataclass(frozen=True)
class GenerationParts:
    """A job's generation, made concrete from its row: what `EngineRuntime.generation_work` takes."""

    request: GenerateRequest
    spec: ModelSpec
    out_dir: Path
    inputs: ImageInputs
    trigger_word: str | None


class _NullDelivery:
    """Used until an adapter registers its delivery port."""

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        return None

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        return None

    async def delivered(self, route: JobRoute, result: JobResult) -> int | None:
        return None

    async def failed(self, route: JobRoute, message: str) -> None:
        return None

    async def cancelled(self, route: JobRoute) -> None:
        return None


def route_of(job: Job) -> JobRoute:
    return JobRoute(
        job_id=job.id,
        requester_id=job.requester_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        message_id=job.message_id,
        interaction_token=job.interaction_token,
        token_expires_at=job.token_expires_at,
    )


class JobService:
    """Implements `JobsApi` for the Discord adapter and the CLI."""

    def __init__(
        self,
        db: Database,
        models: ModelService,
        runtime: EngineRuntime,
        images_dir: Path,
        delivery: DeliveryPort | None = None,
        *,
        uploads_dir: Path | None = None,
        max_upload_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self._db = db
        self._models = models
        self._runtime = runtime
        self._images_dir = images_dir
        self._delivery: DeliveryPort = delivery or _NullDelivery()
        self._handles: dict[int, Any] = {}
        self._finished: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump_lock = asyncio.Lock()
        self._submit_lock = asyncio.Lock()
        self._avg_job_s = 5.0
        self._closing = False
        self._started = False  # nothing is dispatched before start() has recovered stale jobs
        self._cancel_requested: set[int] = set()  # running jobs a user cancelled (not the shutdown)
        self._kinds: dict[str, JobKind] = {}
        from bot.services.image_jobs import ImageJobs  # it builds on this module

        uploads = uploads_dir or images_dir.parent / "uploads"
        self.images = ImageJobs(self, db, runtime, models, uploads, max_upload_bytes)

    # -- life cycle -------------------------------------------------------------------------

    def set_delivery(self, delivery: DeliveryPort) -> None:
        self._delivery = delivery

    def register_kind(self, kind: str, handler: JobKind) -> None:
        """Run jobs of `kind` through `handler` (on the same fair queue and worker as generation)."""
        self._kinds[kind] = handler

    async def start(self) -> None:
        """Recover jobs a crash left running, tell their requesters about failures, start dispatching."""
        report = await self._db.jobs.recover_stale()
        if report.requeued or report.failed or report.completed:
            log.warning(
                "recovered jobs after a restart: requeued=%s failed=%s completed=%s",
                report.requeued,
                report.failed,
                report.completed,
            )
        for job_id in report.failed:
            job = await self._db.jobs.get(job_id)
            if job is not None:
                await self._safe(self._delivery.failed(route_of(job), job.error or "Interrupted by a restart."))
        for job in await self._db.jobs.fair_queue():
            if job.kind in self._kinds and answered_inline(self._kinds[job.kind]):
                log.info("job_id=%s %s dropped: its caller went away with the restart", job.id, job.kind)
                await self._db.jobs.cancel(job.id)
        self._started = True
        self._kick()

    async def stop(self) -> None:
        """Stop dispatching; running work stops between steps and goes back to the queue for the next start."""
        self._closing = True
        for handle in list(self._handles.values()):
            handle.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)

    # -- submitting -------------------------------------------------------------------------

    async def submit_generate(self, caller: Caller, options: GenerateInput) -> JobTicket:
        draft = Draft(
            prompt=options.prompt,
            model=options.model,
            negative=options.negative or "",
            count=options.count,
            seed=options.seed,
            aspect=options.aspect,
            steps=options.steps,
            guidance=options.guidance,
            scheduler=options.scheduler,
            lora_scale=options.lora_scale,
        )
        return await self.submit(caller, "generate", draft)

    async def submit(self, caller: Caller, kind: str, draft: Draft) -> JobTicket:
        """Validate a draft against the model and the guild's policy, persist it and queue it."""
        prompt = (draft.prompt or "").strip()
        if not prompt:
            raise StudioError("The prompt is empty. Describe the image you want.")
        limits = await self._limits(caller)
        await _require_inputs(draft)
        model = await self._models.resolve(draft.model, draft.lora_scale)
        full_prompt = _with_trigger(prompt, model.trigger_word)
        params = self._validate(draft, model, full_prompt)
        spoiler = policy.check_request(
            caller,
            limits,
            prompt=full_prompt,
            negative=draft.negative,
            count=params.count,
            steps=params.steps,
            width=params.width,
            height=params.height,
        )
        request = asdict(replace(draft, prompt=prompt, seed=params.seed))
        request.update(
            full_prompt=full_prompt,
            base_model=model.spec.name,
            chosen=model.chosen,
            count=params.count,
            width=params.width,
            height=params.height,
            steps=params.steps,
            guidance=params.guidance,
            scheduler=params.scheduler,
            loras=[[name, scale] for name, scale in params.loras],
            spoiler=spoiler,
        )
        async with self._submit_lock:  # the load check and the insert are one step
            await self._check_load(caller, limits, params.count)
            job = await self._db.jobs.create(
                kind,
                request,
                caller.user_id,
                guild_id=caller.guild_id,
                channel_id=caller.channel_id,
                interaction_token=caller.interaction_token,
                token_expires_at=caller.token_expires_at,
            )
        self._finished[job.id] = asyncio.Event()
        position = await self._db.jobs.position(job.id) or 0
        eta = self._eta(position)
        log.info("job_id=%s queued kind=%s user=%s position=%s", job.id, kind, caller.user_id, position)
        message_id = await self._safe(self._delivery.queued(route_of(job), position, eta))
        if message_id:
            await self._db.jobs.set_message(job.id, caller.channel_id, message_id)
        self._kick()
        return JobTicket(job.id, position, eta)

    def _validate(self, draft: Draft, model: ResolvedModel, prompt: str):
        request = GenerateRequest(
            prompt=prompt,
            model=model.spec.name,
            negative_prompt=draft.negative,
            count=draft.count if draft.count is not None else 4,
            seed=draft.seed,
            width=draft.width,
            height=draft.height,
            aspect=draft.aspect,
            num_inference_steps=draft.steps,
            guidance_scale=draft.guidance,
            scheduler=draft.scheduler,
            loras=model.loras,
        )
        try:
            params = resolve(request, model.spec)
        except EngineError as exc:
            raise StudioError(str(exc)) from None
        if draft.seed is None:
            params = replace(params, seed=random.randint(0, MAX_SEED - 8))
        return params

    async def enqueue(self, caller: Caller, kind: str, request: dict[str, Any]) -> Job:
        """Queue a job that makes no images (e.g. describe) after the access and load checks; no delivery."""
        limits = await self._limits(caller)
        policy.check_access(caller, limits)
        async with self._submit_lock:
            await self._check_load(caller, limits, 0)
            job = await self._db.jobs.create(
                kind, request, caller.user_id, guild_id=caller.guild_id, channel_id=caller.channel_id
            )
        self._finished[job.id] = asyncio.Event()
        log.info("job_id=%s queued kind=%s user=%s", job.id, kind, caller.user_id)
        self._kick()
        return job

    async def limits(self, caller: Caller) -> GuildSettings:
        """The policy limits that apply to `caller`."""
        return await self._limits(caller)

    async def _limits(self, caller: Caller) -> GuildSettings:
        if caller.is_local:  # the machine's owner: only the model's own bounds apply
            return LOCAL_LIMITS
        if caller.guild_id is None:
            return GuildSettings()
        return await self._db.guild_settings.get(caller.guild_id)

    async def _check_load(self, caller: Caller, limits: GuildSettings, count: int) -> None:
        active = [j for j in await self._db.jobs.list_for_user(caller.user_id, limit=100) if j.active]
        if caller.guild_id is not None:
            active = [j for j in active if j.guild_id == caller.guild_id]
        pending = sum(int(j.request.get("count", 0)) for j in active)
        today = await self._db.usage.images_on(caller.user_id, caller.guild_id)
        policy.check_load(limits, active_jobs=len(active), images_today=today, pending_images=pending, count=count)

    # -- follow-ups of a finished job ---------------------------------------------------------

    async def _source_job(self, job_id: int) -> Job:
        job = await self._db.jobs.get(job_id)
        if job is None:
            raise NotFound("This job no longer exists.")
        return job

    def _draft_of(self, job: Job) -> Draft:
        r = job.request
        return Draft(
            prompt=r["prompt"],
            model=r.get("chosen"),
            negative=r.get("negative", ""),
            count=r.get("count"),
            seed=None,
            width=r.get("width"),
            height=r.get("height"),
            steps=r.get("steps"),
            guidance=r.get("guidance"),
            scheduler=r.get("scheduler"),
            lora_scale=r.get("lora_scale"),
            mode=r.get("mode", "txt2img"),
            strength=r.get("strength"),
            source_image=r.get("source_image"),
            mask_image=r.get("mask_image"),
            note=r.get("note"),
            parent_job=job.id,
        )

    async def reroll(self, caller: Caller, job_id: int) -> JobTicket:
        job = await self._source_job(job_id)
        return await self.submit(caller, job.kind, self._draft_of(job))

    async def remix(self, caller: Caller, job_id: int, prompt: str) -> JobTicket:
        job = await self._source_job(job_id)
        return await self.submit(caller, job.kind, replace(self._draft_of(job), prompt=prompt))

    async def remix_prompt(self, job_id: int) -> str:
        return str((await self._source_job(job_id)).request["prompt"])

    # -- images in (bot/services/image_jobs.py) -------------------------------------------------

    async def describe(self, caller: Caller, image: bytes, count: int = 4) -> DescribeResult:
        return await self.images.describe(caller, image, count)

    async def described(self, job_id: int) -> DescribeResult:
        return await self.images.described(job_id)

    async def generate_described(self, caller: Caller, job_id: int, index: int | None) -> BatchTickets:
        return await self.images.generate_described(caller, job_id, index)

    async def vary_image(self, caller: Caller, image: bytes, options: VaryImageInput) -> JobTicket:
        return await self.images.vary_image(caller, image, options)

    async def edit_image(
        self, caller: Caller, image: bytes, options: EditImageInput, mask: bytes | None = None
    ) -> JobTicket:
        return await self.images.edit_image(caller, image, options, mask)

    async def _image(self, job_id: int, index: int) -> ImageRecord:
        job = await self._source_job(job_id)
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
        job = await self._source_job(job_id)
        draft = replace(
            self._draft_of(job),
            mode="img2img",
            strength=VARY_STRENGTH[strength],
            source_image=str(image.path),
            mask_image=None,
            width=image.width,
            height=image.height,
            note=f"Variation ({strength}) of image {index + 1} of job {job_id}",
        )
        return await self.submit(caller, "vary", draft)

    async def upscale(self, caller: Caller, job_id: int, index: int) -> ResultImage:
        policy.check_access(caller, await self._limits(caller))
        image = await self._image(job_id, index)
        return _result_image(image)

    def _may_manage(self, caller: Caller, job: Job) -> None:
        if caller.user_id != job.requester_id and not caller.is_moderator:
            raise Refused("Only the person who asked for this job, or a moderator, can do that.")

    async def delete(self, caller: Caller, job_id: int) -> None:
        """Authorise deleting a job's message; an active job is cancelled first. Stored images stay."""
        job = await self._source_job(job_id)
        self._may_manage(caller, job)
        if job.active:
            await self.cancel(caller, job_id)
        log.info("job_id=%s message deleted by user=%s", job_id, caller.user_id)

    async def cancel(self, caller: Caller, job_id: int) -> None:
        # Under the dispatcher's lock: a job read as queued cannot be started before it is marked
        # cancelled, and a running one already has its handle.
        async with self._pump_lock:
            job = await self._source_job(job_id)
            self._may_manage(caller, job)
            if job.status == "running":
                handle = self._handles.get(job_id)
                if handle is not None:
                    self._cancel_requested.add(job_id)
                    handle.cancel()  # the watcher records it when the worker stops between steps
                return
            if job.status != "queued":
                raise Refused(f"Job {job_id} has already ended ({job.status}).")
            if not await self._db.jobs.cancel(job_id):
                return
            self._set_finished(job_id)
        await self._safe(self._delivery.cancelled(route_of(job)))

    async def queue(self, caller: Caller) -> QueueView:
        running = [self._entry(caller, j, 0) for j in await self._db.jobs.list_running()]
        waiting = [self._entry(caller, j, i) for i, j in enumerate(await self._db.jobs.fair_queue())]
        mine = tuple(e for e in running + waiting if e.requester_id == caller.user_id)
        return QueueView(tuple(running), tuple(waiting), mine)

    def _entry(self, caller: Caller, job: Job, position: int) -> QueueEntry:
        eta = None if job.status == "running" else self._eta(position)
        # The queue is shared by every server (and DMs): a prompt is shown only where it was typed.
        visible = job.requester_id == caller.user_id or (job.guild_id is not None and job.guild_id == caller.guild_id)
        prompt = str(job.request["prompt"]) if visible else HIDDEN_PROMPT
        return QueueEntry(job.id, job.kind, job.requester_id, job.status, position, eta, prompt)

    async def result(self, job_id: int) -> JobResult:
        job = await self._source_job(job_id)
        if job.status != "done":
            raise Refused("This job has not finished yet.")
        return _job_result(job, await self._db.images.for_job(job_id))

    async def wait(self, job_id: int, limit_s: float | None = None) -> Job:
        """Wait until a job ends (for the CLI and tests); returns its final row."""
        event = self._finished.setdefault(job_id, asyncio.Event())
        job = await self._source_job(job_id)
        if job.active:
            await asyncio.wait_for(event.wait(), limit_s)
        return await self._source_job(job_id)

    # -- dispatching ------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job service task failed", exc_info=task.exception())

    def _kick(self) -> None:
        if self._started and not self._closing:
            self._spawn(self._pump())

    async def _pump(self) -> None:
        """Hand queued jobs to the backend, fairly, while it has free slots."""
        async with self._pump_lock:
            while not self._closing and self._runtime.backend.free_slots() > 0:
                job = await self._db.jobs.next_fair()
                if job is None:
                    return
                job = await self._db.jobs.start(job.id)
                log.info("job_id=%s started attempt=%s", job.id, job.attempts)
                try:
                    work = await self._work_for(job)
                except StudioError as exc:
                    await self._fail(job, exc.message)
                    continue
                handle = self._runtime.backend.submit(job.id, work)
                self._handles[job.id] = handle
                self._spawn(self._watch(job, handle))

    async def _work_for(self, job: Job):
        handler = self._kinds.get(job.kind)
        if handler is not None:
            return await handler.work(job)
        parts = await self.generation_parts(job)
        return self._runtime.generation_work(parts.request, parts.spec, parts.out_dir, parts.inputs)

    async def generation_parts(self, job: Job) -> GenerationParts:
        r = job.request
        model = await self._models.resolve(r.get("chosen"), r.get("lora_scale"))
        request = GenerateRequest(
            prompt=r["full_prompt"],
            model=model.spec.name,
            negative_prompt=r.get("negative", ""),
            count=r["count"],
            seed=r["seed"],
            width=r["width"],
            height=r["height"],
            num_inference_steps=r["steps"],
            guidance_scale=r["guidance"],
            scheduler=r.get("scheduler"),
            loras=model.loras,
            strength=r.get("strength"),
        )
        inputs = ImageInputs(
            init_image=Path(r["source_image"]) if r.get("source_image") else None,
            mask_image=Path(r["mask_image"]) if r.get("mask_image") else None,
        )
        out_dir = self._images_dir / f"{job.id:07d}"
        return GenerationParts(request, model.spec, out_dir, inputs, model.trigger_word)

    async def _watch(self, job: Job, handle: Any) -> None:
        route = route_of(job)
        try:
            async for event in handle.events():
                await self._safe(self._delivery.progress(route, Progress(job.id, event.step, event.total, event.eta_s)))
            output: GenerationOutput = await handle.result()
        except (JobCancelled, Cancelled):
            if self._closing and job.id not in self._cancel_requested:
                log.info("job_id=%s stopped by shutdown; queued again for the next start", job.id)
                await self._db.jobs.requeue(job.id)
            else:
                log.info("job_id=%s cancelled", job.id)
                await self._db.jobs.cancel(job.id)
                await self._safe(self._delivery.cancelled(route))
        except EngineError as exc:
            await self._fail(job, str(exc))
        except Exception:
            log.exception("job_id=%s failed", job.id)
            await self._fail(job, GENERIC_FAILURE)
        else:
            handler = self._kinds.get(job.kind)
            if handler is not None:
                await handler.complete(job, output)
            else:
                await self._complete(job, output)
        finally:
            self._handles.pop(job.id, None)
            self._cancel_requested.discard(job.id)
            self._set_finished(job.id)
            self._kick()

    async def complete_generation(self, job: Job, output: GenerationOutput) -> None:
        """Store and deliver a generation's images (for job kinds that end in a generation)."""
        await self._complete(job, output)

    async def _fail(self, job: Job, message: str) -> None:
        log.warning("job_id=%s failed: %s", job.id, message)
        await self._db.jobs.fail(job.id, message)
        self._set_finished(job.id)
        await self._safe(self._delivery.failed(route_of(job), message))

    async def _complete(self, job: Job, output: GenerationOutput) -> None:
        self._avg_job_s = 0.7 * self._avg_job_s + 0.3 * output.elapsed_s
        r = job.request
        known = {image.index: image for image in await self._db.images.for_job(job.id)}
        records = []
        for saved in output.images:
            if saved.index in known:  # written by an attempt before a restart: same seed, same file
                records.append(known[saved.index])
                continue
            records.append(
                await self._db.images.add(
                    job_id=job.id,
                    index=saved.index,
                    path=saved.path,
                    sha256=saved.sha256,
                    size_bytes=saved.size_bytes,
                    width=saved.width,
                    height=saved.height,
                    seed=saved.seed,
                    prompt=output.params.prompt,
                    negative_prompt=output.params.negative_prompt,
                    model=r.get("chosen") or output.params.model,
                    loras=tuple(output.params.loras),
                    params={
                        "steps": output.params.steps,
                        "guidance": output.params.guidance,
                        "scheduler": output.params.scheduler,
                        "mode": output.params.mode,
                        "strength": output.params.strength,
                        "base_model": output.params.model,
                        "grid": str(output.grid_path) if output.grid_path else None,
                    },
                )
            )
        result = _job_result(job, records)
        message_id = await self._safe(self._delivery.delivered(route_of(job), result))
        await self._db.jobs.mark_delivered(job.id, message_id)
        if message_id:
            await self._db.images.set_message([rec.id for rec in records], job.channel_id, message_id)
        await self._db.jobs.finish(job.id, {"images": [rec.id for rec in records], "elapsed_s": output.elapsed_s})
        await self._db.usage.add(job.requester_id, job.guild_id, len(records))
        log.info("job_id=%s done images=%s elapsed=%.2fs", job.id, len(records), output.elapsed_s)

    def _set_finished(self, job_id: int) -> None:
        self._finished.setdefault(job_id, asyncio.Event()).set()

    def _eta(self, position: int) -> float:
        return round((position + 1) * self._avg_job_s, 1)

    async def _safe(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """A delivery failure is logged and never breaks the job's bookkeeping."""
        try:
            return await coro
        except Exception:
            log.exception("delivery failed")
            return None


async def _require_inputs(draft: Draft) -> None:
    """A job that starts from files (rerolls and remixes of /vary and /edit) needs them still on disk."""
    paths = [Path(p) for p in (draft.source_image, draft.mask_image) if p]
    if paths and not all(await asyncio.to_thread(lambda: [p.is_file() for p in paths])):
        raise StudioError("The image this job started from is gone from the server. Start again from a new image.")


def _with_trigger(prompt: str, trigger: str | None) -> str:
    if trigger and trigger.lower() not in prompt.lower():
        return f"{trigger}, {prompt}"
    return prompt


def _result_image(image: ImageRecord) -> ResultImage:
    return ResultImage(image.id, image.index, image.path, image.seed, image.width, image.height)


def _job_result(job: Job, images: list[ImageRecord]) -> JobResult:
    r = job.request
    images = sorted(images, key=lambda i: i.index)
    grid = images[0].params.get("grid") if images else None
    return JobResult(
        job_id=job.id,
        kind=job.kind,
        requester_id=job.requester_id,
        prompt=r.get("full_prompt", r["prompt"]),
        negative_prompt=r.get("negative", ""),
        model=r.get("chosen") or r.get("base_model", ""),
        loras=tuple((name, float(scale)) for name, scale in r.get("loras", [])),
        seed=int(r["seed"]),
        # What ran: an edit may have needed more steps than asked (at least one step must denoise).
        steps=int(images[0].params.get("steps", r["steps"]) if images else r["steps"]),
        guidance=float(r["guidance"]),
        width=int(r["width"]),
        height=int(r["height"]),
        images=tuple(_result_image(i) for i in images),
        grid_path=Path(grid) if grid else None,
        spoiler=bool(r.get("spoiler")),
        note=r.get("note"),
        extra_files=tuple(Path(p) for p in r.get("extra_files", [])),
    )
