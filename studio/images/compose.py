"""The vary and edit kinds: /vary and /edit (an uploaded image changed by an instruction) and the V buttons.

With an instruction, the engine captions the image and composes the output prompt from it (finding
the mask from the region's words for /edit) before it generates; the output prompt is the job's
outcome, and its rerolls and remixes start from it. Without one (a V button, a reroll) the job is a
plain img2img or inpaint generation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Self

from engine import MASK, ComposeOutcome, ComposeTask, ImagesOutcome, WorkOrder, family_of, model_size
from storage import Database
from storage.records import Job
from studio.contract import Caller, JobTicket
from studio.errors import StudioError
from studio.images.api import MAX_INSTRUCTION, MAX_REGION, EditImageInput, VaryImageInput
from studio.images.images import OVERLAY, ImageDraft, ImageKind, ImageRequest, ImagesDone, images_completion
from studio.images.submitter import ImageSubmitter
from studio.jobs.kind import Completion, check_version
from studio.jobs.queue import JobQueue
from studio.models.service import ModelService
from studio.uploads import Uploads

STRENGTH_RANGE = (0.05, 1.0)


@dataclass(frozen=True)
class ComposeRequest(ImageRequest):
    """A generation from an uploaded image, with the instruction the output prompt is composed from."""

    instruction: str | None = None  # None: a plain img2img / inpaint (V buttons, rerolls)
    region: str | None = None  # /edit without a mask: the words that name the part to change

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        request = super().from_json(data)
        if "v" not in data:  # written before requests had a version: the instruction sat in `extra`
            extra = data.get("extra") or {}
            request = replace(request, instruction=extra.get("instruction"), region=extra.get("region"))
        return request

    @classmethod
    def extend(cls, request: ImageRequest, instruction: str | None = None, region: str | None = None) -> Self:
        base = {f.name: getattr(request, f.name) for f in fields(ImageRequest)}
        return cls(**base, instruction=instruction, region=region)


@dataclass(frozen=True)
class ComposeDone(ImagesDone):
    """The outcome of a composed job: its images, and the prompt the engine made for them."""

    prompt: str = ""
    full_prompt: str = ""
    negative: str = ""
    strength: float | None = None
    description: str = ""  # the caption the prompt was composed from
    prompt_source: str = "composer"  # or "rewriter", or "kontext" (the instruction edited the image as is)
    mask_image: str | None = None  # a mask found from the region's words

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("image_ids")
        return {**super().to_json(), **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComposeDone | None:
        """The composed outcome stored in a job's result; None for a plain one (or one from before v1)."""
        if "full_prompt" not in data:
            return None
        check_version(data, cls.VERSION, "job result")
        names = {f.name for f in fields(cls)} - {"image_ids"}
        return cls(image_ids=tuple(data.get("images", ())), **{k: v for k, v in data.items() if k in names})


class ComposeKind(ImageKind[ComposeRequest]):
    """`vary` (img2img) or `edit` (inpaint), by the name it is registered under."""

    def __init__(self, name: str, label: str, db: Database, models: ModelService, images_dir: Path) -> None:
        super().__init__(db, models, images_dir)
        self.name = name
        self.label = label

    def parse(self, data: Mapping[str, Any]) -> ComposeRequest:
        return ComposeRequest.from_json(data)

    def from_image_request(self, request: ImageRequest) -> ComposeRequest:
        return ComposeRequest.extend(request)

    async def effective(self, job: Job) -> ImageRequest:
        request = self.parse(job.request)
        done = ComposeDone.from_json(job.result or {})
        return request if done is None else _with_outcome(request, done)

    async def order(self, job: Job, request: ComposeRequest) -> WorkOrder:
        task, model = await self.generate_task(request)
        inputs = {role: path for path, role in request.files()}
        if not request.instruction:
            return WorkOrder(job.id, "generate", task, inputs, self.out_dir(job))
        # The region's words find the mask only when no mask was uploaded.
        region = request.region if request.mode == "inpaint" and request.mask_image is None else None
        compose = ComposeTask(task, request.instruction, region, request.strength, model.trigger_word)
        return WorkOrder(job.id, "compose", compose, inputs, self.out_dir(job))

    async def complete(self, job: Job, request: ComposeRequest, outcome: ImagesOutcome | ComposeOutcome) -> Completion:
        if isinstance(outcome, ImagesOutcome):
            records = await self.store(job, request, outcome)
            done: ImagesDone = ImagesDone(tuple(r.id for r in records), outcome.elapsed_s)
            effective: ImageRequest = request
        else:
            records = await self.store(job, request, outcome.images)
            files = [(f.path, role) for f, role in ((outcome.mask, MASK), (outcome.overlay, OVERLAY)) if f is not None]
            await self._db.job_files.add(job.id, files)
            done = ComposeDone(
                image_ids=tuple(r.id for r in records),
                elapsed_s=outcome.images.elapsed_s,
                prompt=outcome.prompt,
                full_prompt=outcome.full_prompt,
                negative=outcome.negative,
                strength=outcome.images.params.strength,
                description=outcome.description,
                prompt_source=outcome.prompt_source,
                mask_image=str(outcome.mask.path) if outcome.mask is not None else None,
            )
            effective = _with_outcome(request, done)
        result = await self.job_result(job, effective)
        return images_completion(records, result, done.to_json())


def _with_outcome(request: ComposeRequest, done: ComposeDone) -> ImageRequest:
    """What ran: results, rerolls and remixes use the output prompt, not the instruction."""
    return replace(
        request,
        prompt=done.prompt,
        full_prompt=done.full_prompt,
        negative=done.negative,
        strength=done.strength,
        mask_image=done.mask_image or request.mask_image,
        note=f"Output prompt: {done.full_prompt}",
        instruction=None,
        region=None,
    )


class EditService:
    """Implements `EditsApi`: uploads are checked and stored off the event loop, then queued as jobs."""

    def __init__(self, queue: JobQueue, submitter: ImageSubmitter, models: ModelService, uploads: Uploads) -> None:
        self._queue = queue
        self._submitter = submitter
        self._models = models
        self._uploads = uploads

    async def vary_image(self, caller: Caller, image: bytes, options: VaryImageInput) -> JobTicket:
        instruction = instruction_text(options.instruction)
        if options.strength is not None and not STRENGTH_RANGE[0] <= options.strength <= STRENGTH_RANGE[1]:
            raise StudioError(
                f"Strength must be from {STRENGTH_RANGE[0]} (a light touch) to {STRENGTH_RANGE[1]} "
                f"(a new picture); got {options.strength:g}."
            )
        return await self._submit(caller, "vary", image, None, options, instruction, strength=options.strength)

    async def edit_image(
        self, caller: Caller, image: bytes, options: EditImageInput, mask: bytes | None = None
    ) -> JobTicket:
        instruction = instruction_text(options.instruction)
        region = " ".join((options.region or "").split()) or None
        if (mask is None) == (region is None):
            raise StudioError(
                "Give exactly one of `mask` (an image, white where the picture should change) "
                "or `region` (words naming the part to change, e.g. 'the sky')."
            )
        if region is not None and len(region) > MAX_REGION:
            raise StudioError(f"The region is too long ({len(region)} characters; at most {MAX_REGION}).")
        return await self._submit(caller, "edit", image, mask, options, instruction, region=region)

    async def _submit(
        self,
        caller: Caller,
        kind: str,
        image: bytes,
        mask: bytes | None,
        options: VaryImageInput | EditImageInput,
        instruction: str,
        *,
        region: str | None = None,
        strength: float | None = None,
    ) -> JobTicket:
        """Check access, store the upload (and mask), size it for the model, validate, queue."""
        await self._queue.admission.check_access(caller)
        chosen = options.model
        model = await self._models.resolve(chosen)
        if (
            kind == "vary"
            and family_of(model.spec.family).has_instruction_editor
            and not model.loras
            and not model.spec.preset.edits_by_instruction
        ):
            # An image of a family with an instruction editor (FLUX.1 Kontext), when one is on this machine: it keeps
            # who is in the picture.
            kontext = await self._models.instruct_model()
            if kontext is not None:
                chosen, model = kontext, await self._models.resolve(kontext)
        upload = await self._uploads.image(image)
        mask_path = await self._uploads.mask(mask, (upload.width, upload.height)) if mask is not None else None
        width, height = model_size(upload.width, upload.height, model.spec)
        draft = ImageDraft(
            prompt=instruction,
            model=chosen,
            count=options.count,
            seed=options.seed,
            width=width,
            height=height,
            mode="img2img" if kind == "vary" else "inpaint",
            strength=strength,
            source_image=str(upload.path),
            mask_image=str(mask_path) if mask_path else None,
        )
        request, limits = await self._submitter.prepare(caller, draft)
        composed = ComposeRequest.extend(request, instruction, region)
        return await self._queue.submit(caller, kind, composed, limits=limits)


def instruction_text(text: str) -> str:
    """An instruction, whitespace tidied; StudioError when empty or too long."""
    instruction = " ".join((text or "").split())
    if not instruction:
        raise StudioError("The instruction is empty. Say what to change, e.g. 'make it a watercolor'.")
    if len(instruction) > MAX_INSTRUCTION:
        raise StudioError(f"The instruction is too long ({len(instruction)} characters; at most {MAX_INSTRUCTION}).")
    return instruction
