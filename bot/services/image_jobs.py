"""/describe, /vary and /edit in the services: uploads checked and stored, three job kinds on the fair queue.

Uploads are decoded and checked off the event loop (engine.image_input) and stored normalised (RGB,
EXIF applied, at most 2048 px a side) as data/uploads/<sha256>.png. Captioning, composing, segmenting
and generating all run in the job's work function on the GPU worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.services import policy
from bot.services.api import (
    BatchTickets,
    Caller,
    DescribeResult,
    EditImageInput,
    GenerateInput,
    JobTicket,
    VaryImageInput,
)
from bot.services.errors import NotFound, Refused, StudioError
from bot.services.jobs import Draft
from bot.services.runtime import EngineRuntime, GenerationOutput, ImageInputs
from engine.errors import EngineError, InvalidRequest
from engine.image_input import ImageRejected, fit_size
from storage import Database
from storage.records import Job

if TYPE_CHECKING:
    from bot.services.jobs import GenerationParts, JobService
    from bot.services.models import ModelService
    from engine.catalog import ModelSpec
    from engine.worker import WorkContext

log = logging.getLogger(__name__)

MAX_UPLOAD_PIXELS = 4096 * 4096  # checked from the header, before decoding
MAX_STORED_SIDE = 2048  # no model here works on more; smaller files, faster jobs
MAX_DESCRIBE = 8
MAX_INSTRUCTION = 500
MAX_REGION = 100
STRENGTH_RANGE = (0.05, 1.0)
GENERIC_FAILURE = "The engine failed on this job; the error was logged for the admins."
DESCRIBE_PROMPT = "(describe an image)"


DESCRIBE_WAIT_S = 13 * 60  # under Discord's 15-minute interaction token, with room to answer


@dataclass(frozen=True)
class Upload:
    """A checked upload, stored normalised."""

    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class DescribeOutput:
    prompts: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class ComposedOutput:
    """What a /vary or /edit job made: the generation, and what the worker decided on the way."""

    generation: GenerationOutput
    prompt: str  # the composer's output prompt
    full_prompt: str  # with the model's trigger word
    negative: str
    description: str  # the caption the prompt was composed from
    mask_path: Path | None = None
    overlay_path: Path | None = None
    prompt_source: str = "composer"  # or "rewriter": the language model's version was accepted


# ---------------------------------------------------------------- blocking helpers (run in threads)


def _save_png(image: Any, path: Path) -> None:
    if path.exists():  # content-addressed: the same bytes were stored before
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)


def store_upload(data: bytes, folder: Path, max_bytes: int) -> Upload:
    """Check an upload (type by content, bytes, pixels, decode) and store it normalised; ImageRejected on refusal."""
    from PIL import Image

    from engine.image_input import load_image

    image = load_image(data, max_bytes=max_bytes, max_pixels=MAX_UPLOAD_PIXELS)
    if max(image.size) > MAX_STORED_SIDE:
        image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.png"
    _save_png(image, path)
    return Upload(path, image.width, image.height)


def store_mask(data: bytes, folder: Path, max_bytes: int, size: tuple[int, int]) -> Path:
    """Check an uploaded mask and store it as a binary mask of `size` (white = change)."""
    from engine.image_input import open_checked
    from engine.masks import mask_from_upload

    mask = mask_from_upload(open_checked(data, max_bytes=max_bytes, max_pixels=MAX_UPLOAD_PIXELS), size)
    digest = hashlib.sha256(data).hexdigest()[:40]
    path = folder / f"mask-{digest}-{size[0]}x{size[1]}.png"
    _save_png(mask, path)
    return path


def describe_work(runtime: EngineRuntime, source: Path, count: int) -> Callable[[WorkContext], DescribeOutput]:
    """Work for the GPU thread: caption the image and read its pixels into `count` prompts."""

    def work(ctx: WorkContext) -> DescribeOutput:
        from PIL import Image

        from engine.captioner import describe

        try:
            with Image.open(source) as img:
                image = img.convert("RGB")
            prompts = describe(image, runtime.captioner(), count)
        except EngineError as exc:
            return DescribeOutput((), exc.message)
        except Exception:
            log.exception("job_id=%s describe failed", ctx.job_id)
            return DescribeOutput((), GENERIC_FAILURE)
        return DescribeOutput(tuple(prompts))

    return work


def composed_work(
    runtime: EngineRuntime,
    parts: GenerationParts,
    *,
    instruction: str,
    region: str | None,
    strength: float | None,
) -> Callable[[WorkContext], ComposedOutput]:
    """Work for the GPU thread: (mask from words,) caption, compose the output prompt, then img2img or inpaint."""

    def work(ctx: WorkContext) -> ComposedOutput:
        from PIL import Image

        from engine.captioner import clean_caption
        from engine.composer import compose
        from engine.masks import mask_coverage, overlay_mask

        assert parts.inputs.init_image is not None
        with Image.open(parts.inputs.init_image) as img:
            image = img.convert("RGB")
        inpaint = region is not None or parts.inputs.mask_image is not None
        mask_path, overlay_path = parts.inputs.mask_image, None
        if inpaint:
            parts.out_dir.mkdir(parents=True, exist_ok=True)
            if mask_path is None:
                assert region is not None
                mask = runtime.segmenter().mask(image, region)
                if mask_coverage(mask) == 0.0:
                    raise InvalidRequest(
                        f"Could not find '{region}' in the image: draw a mask instead "
                        "(white where it should change) and give it as `mask`."
                    )
                mask_path = parts.out_dir / "mask.png"
                mask.save(mask_path)
            else:
                with Image.open(mask_path) as m:
                    mask = m.convert("L")
            overlay_path = parts.out_dir / "mask_overlay.png"
            overlay_mask(image, mask).save(overlay_path)
        ctx.raise_if_cancelled()
        description = clean_caption(runtime.captioner().caption(image, "short")) or "an image"
        ctx.raise_if_cancelled()
        composed = compose(description, instruction, rewriter=runtime.rewriter())
        full = _with_trigger(composed.prompt, parts.trigger_word)
        # img2img takes the composer's suggested strength unless the user gave one; inpaint keeps its default.
        strength_used = composed.strength_hint if strength is None and not inpaint else strength
        request = replace(parts.request, prompt=full, negative_prompt=composed.negative_prompt, strength=strength_used)
        inputs = ImageInputs(init_image=parts.inputs.init_image, mask_image=mask_path)
        generation = runtime.generation_work(request, parts.spec, parts.out_dir, inputs)(ctx)
        return ComposedOutput(
            generation,
            composed.prompt,
            full,
            composed.negative_prompt,
            description,
            mask_path,
            overlay_path,
            prompt_source=composed.source,
        )

    return work


def _with_trigger(prompt: str, trigger: str | None) -> str:
    if trigger and trigger.lower() not in prompt.lower():
        return f"{trigger}, {prompt}"
    return prompt


def model_size(width: int, height: int, spec: ModelSpec) -> tuple[int, int]:
    """The image's aspect at the model's default area, in the model's size steps and bounds."""
    preset = spec.preset
    area = preset.default_size[0] * preset.default_size[1]
    w, h = fit_size(width, height, area, preset.size_step)
    return (max(preset.min_side, min(preset.max_side, w)), max(preset.min_side, min(preset.max_side, h)))


# ---------------------------------------------------------------- the service part


class ImageJobs:
    """Implements the image-in methods of `JobsApi`; `JobService` delegates to it and runs its job kinds."""

    def __init__(
        self,
        jobs: JobService,
        db: Database,
        runtime: EngineRuntime,
        models: ModelService,
        uploads_dir: Path,
        max_upload_bytes: int,
    ) -> None:
        self._jobs = jobs
        self._db = db
        self._runtime = runtime
        self._models = models
        self.uploads_dir = uploads_dir
        self.max_upload_bytes = max_upload_bytes
        jobs.register_kind("describe", _DescribeKind(self))
        composed = _ComposedKind(self)
        jobs.register_kind("vary", composed)
        jobs.register_kind("edit", composed)

    # -- uploads --------------------------------------------------------------------------------

    async def accept(self, data: bytes) -> Upload:
        """Check and store an image upload (in a thread); StudioError with the reason on refusal."""
        try:
            return await asyncio.to_thread(store_upload, data, self.uploads_dir, self.max_upload_bytes)
        except ImageRejected as exc:
            raise StudioError(str(exc)) from None

    async def accept_mask(self, data: bytes, size: tuple[int, int]) -> Path:
        try:
            return await asyncio.to_thread(store_mask, data, self.uploads_dir, self.max_upload_bytes, size)
        except ImageRejected as exc:
            raise StudioError(f"Mask: {exc}") from None

    async def _check_access(self, caller: Caller) -> None:
        policy.check_access(caller, await self._jobs.limits(caller))

    # -- /describe ----------------------------------------------------------------------------

    async def describe(self, caller: Caller, image: bytes, count: int = 4) -> DescribeResult:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_DESCRIBE:
            raise StudioError(f"Count must be a whole number from 1 to {MAX_DESCRIBE} (got {count!r}).")
        await self._check_access(caller)
        upload = await self.accept(image)
        request = {"prompt": DESCRIBE_PROMPT, "source_image": str(upload.path), "describe_count": count, "count": 0}
        job = await self._jobs.enqueue(caller, "describe", request)
        try:
            # The caller's interaction lasts 15 minutes: answer before then, whatever the queue does.
            done = await self._jobs.wait(job.id, limit_s=DESCRIBE_WAIT_S)
        except TimeoutError:
            await self._jobs.cancel(replace(caller, is_moderator=True), job.id)
            raise StudioError("The queue is too long to describe this image now; try again in a few minutes.") from None
        if done.status == "done":
            return DescribeResult(done.id, tuple(done.result.get("prompts", [])))
        if done.status == "cancelled":
            raise StudioError("The description was cancelled.")
        raise StudioError(done.error or GENERIC_FAILURE)

    async def described(self, job_id: int) -> DescribeResult:
        job = await self._db.jobs.get(job_id)
        if job is None or job.kind != "describe":
            raise NotFound("This description no longer exists. Run /describe again.")
        if job.status != "done":
            raise Refused("This description has not finished.")
        return DescribeResult(job.id, tuple(job.result.get("prompts", [])))

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
                tickets.append(await self._jobs.submit_generate(who, GenerateInput(prompt=prompt, count=count)))
            except StudioError as exc:
                if not tickets:
                    raise
                return BatchTickets(tuple(tickets), exc.message)
        return BatchTickets(tuple(tickets))

    # -- /vary and /edit ----------------------------------------------------------------------

    async def vary_image(self, caller: Caller, image: bytes, options: VaryImageInput) -> JobTicket:
        instruction = _instruction(options.instruction)
        if options.strength is not None and not STRENGTH_RANGE[0] <= options.strength <= STRENGTH_RANGE[1]:
            raise StudioError(
                f"Strength must be from {STRENGTH_RANGE[0]} (a light touch) to {STRENGTH_RANGE[1]} "
                f"(a new picture); got {options.strength:g}."
            )
        await self._check_access(caller)
        model = await self._models.resolve(options.model)
        upload = await self.accept(image)
        width, height = model_size(upload.width, upload.height, model.spec)
        draft = Draft(
            prompt=instruction,
            model=options.model,
            count=options.count,
            seed=options.seed,
            width=width,
            height=height,
            mode="img2img",
            strength=options.strength,
            source_image=str(upload.path),
            extra={"instruction": instruction},
        )
        return await self._jobs.submit(caller, "vary", draft)

    async def edit_image(
        self, caller: Caller, image: bytes, options: EditImageInput, mask: bytes | None = None
    ) -> JobTicket:
        instruction = _instruction(options.instruction)
        region = " ".join((options.region or "").split()) or None
        if (mask is None) == (region is None):
            raise StudioError(
                "Give exactly one of `mask` (an image, white where the picture should change) "
                "or `region` (words naming the part to change, e.g. 'the sky')."
            )
        if region is not None and len(region) > MAX_REGION:
            raise StudioError(f"The region is too long ({len(region)} characters; at most {MAX_REGION}).")
        await self._check_access(caller)
        model = await self._models.resolve(options.model)
        upload = await self.accept(image)
        mask_path = await self.accept_mask(mask, (upload.width, upload.height)) if mask is not None else None
        width, height = model_size(upload.width, upload.height, model.spec)
        draft = Draft(
            prompt=instruction,
            model=options.model,
            count=options.count,
            seed=options.seed,
            width=width,
            height=height,
            mode="inpaint",
            source_image=str(upload.path),
            mask_image=str(mask_path) if mask_path else None,
            extra={"instruction": instruction, "region": region},
        )
        return await self._jobs.submit(caller, "edit", draft)


def _instruction(text: str) -> str:
    instruction = " ".join((text or "").split())
    if not instruction:
        raise StudioError("The instruction is empty. Say what to change, e.g. 'make it a watercolor'.")
    if len(instruction) > MAX_INSTRUCTION:
        raise StudioError(f"The instruction is too long ({len(instruction)} characters; at most {MAX_INSTRUCTION}).")
    return instruction


class _DescribeKind:
    answered_inline = True  # /describe awaits its prompts; it has no delivery of its own

    def __init__(self, owner: ImageJobs) -> None:
        self._owner = owner

    async def work(self, job: Job) -> Callable[[WorkContext], DescribeOutput]:
        r = job.request
        return describe_work(self._owner._runtime, Path(r["source_image"]), int(r["describe_count"]))

    async def complete(self, job: Job, output: DescribeOutput) -> None:
        # The prompts live in the job row: the buttons under them find them there, also after a restart.
        db = self._owner._db
        if output.error is not None:
            log.warning("job_id=%s describe failed: %s", job.id, output.error)
            await db.jobs.fail(job.id, output.error)
            return
        await db.jobs.finish(job.id, {"prompts": list(output.prompts)})
        log.info("job_id=%s described prompts=%s", job.id, len(output.prompts))


class _ComposedKind:
    """vary and edit: with an instruction, compose on the worker; otherwise (V buttons, rerolls) plain generation."""

    def __init__(self, owner: ImageJobs) -> None:
        self._owner = owner

    async def work(self, job: Job) -> Callable[[WorkContext], Any]:
        owner = self._owner
        parts = await owner._jobs.generation_parts(job)
        extra = job.request.get("extra") or {}
        if not extra.get("instruction"):
            return owner._runtime.generation_work(parts.request, parts.spec, parts.out_dir, parts.inputs)
        region = extra.get("region") if job.request.get("mode") == "inpaint" else None
        return composed_work(
            owner._runtime,
            parts,
            instruction=str(extra["instruction"]),
            region=region if parts.inputs.mask_image is None else None,
            strength=job.request.get("strength"),
        )

    async def complete(self, job: Job, output: GenerationOutput | ComposedOutput) -> None:
        jobs = self._owner._jobs
        if isinstance(output, GenerationOutput):
            await jobs.complete_generation(job, output)
            return
        # What the worker decided becomes the job's request: results, rerolls and remixes use the output prompt.
        updates: dict[str, Any] = {
            "prompt": output.prompt,
            "full_prompt": output.full_prompt,
            "negative": output.negative,
            "strength": output.generation.params.strength,
            "description": output.description,
            "prompt_source": output.prompt_source,
            "note": f"Output prompt: {output.full_prompt}",
        }
        if output.mask_path is not None:
            updates["mask_image"] = str(output.mask_path)
        if output.overlay_path is not None:
            updates["extra_files"] = [str(output.overlay_path)]
        job = await self._owner._db.jobs.merge_request(job.id, updates)
        log.info("job_id=%s output prompt (%s): %s", job.id, output.prompt_source, output.full_prompt)
        await jobs.complete_generation(job, output.generation)
