"""What every kind of job that makes images shares: its typed request, validation, work order and results.

/generate, the V buttons, /vary and /edit (and later character sheets and auto-posts) all end in a
generation: the request is validated against the model and the guild once, when it is queued; the
model is looked up again when the job starts, so a LoRA retrained under the same name is used.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from engine import (
    MASK,
    SOURCE,
    GenerateRequest,
    GenerateTask,
    GenerationParams,
    ImagesOutcome,
    ResolvedParams,
)
from storage import Database
from storage.records import ImageRecord, Job
from studio.errors import StudioError
from studio.images.api import JobResult, ResultImage
from studio.jobs.kind import Completion, JobKind, check_version
from studio.models.service import ModelService, ResolvedModel

# Roles of the files an image job records besides its inputs (engine.work.SOURCE and MASK).
GRID, OUTPUT, OVERLAY = "grid", "output", "overlay"


@dataclass(frozen=True, kw_only=True)
class ImageRequest(GenerationParams):
    """A generation, validated, with every setting made concrete: stored as the job's request.

    The settings are `GenerationParams`' fields, stored flat beside the job's own (the keys of the rows written
    before there was one type), so a new setting is stored and read back here without a line of its own.
    """

    VERSION: ClassVar[int] = 1

    prompt: str  # as the user typed it
    full_prompt: str  # with the LoRA's trigger word: what the model gets
    chosen: str  # the picker value: a base model or a LoRA name
    base_model: str
    # The settings the core computes with, concrete here (GenerationParams has them optional).
    count: int
    seed: int
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    lora_scale: float | None = None
    loras: tuple[tuple[str, float], ...] = ()
    mode: str = "txt2img"  # txt2img, img2img, inpaint
    source_image: str | None = None  # the image img2img / inpaint starts from
    mask_image: str | None = None
    note: str | None = None  # shown above the result, e.g. "Variation (strong) of image 2 of job 12"
    parent_job: int | None = None
    spoiler: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["loras"] = [list(pair) for pair in self.loras]
        data["extras"] = dict(self.extras)
        return {"v": self.VERSION, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Also reads the requests written before they had a version (their keys are the same)."""
        check_version(data, cls.VERSION, "job")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values.setdefault("full_prompt", data.get("prompt", ""))
        try:
            values["loras"] = tuple((str(name), float(scale)) for name, scale in data.get("loras") or ())
            values["extras"] = dict(data.get("extras") or {})
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise StudioError("This job's stored request is incomplete; start a new one.") from exc

    def files(self) -> list[tuple[Path, str]]:
        """(path, role) of the files the generation reads."""
        pairs = [(self.source_image, SOURCE), (self.mask_image, MASK)]
        return [(Path(path), role) for path, role in pairs if path]


@dataclass(frozen=True)
class ImageDraft(GenerationParams):
    """A generation as asked for, before validation: its settings None where the model's default applies."""

    prompt: str
    model: str | None = None
    lora_scale: float | None = None
    mode: str = "txt2img"
    source_image: str | None = None
    mask_image: str | None = None
    note: str | None = None
    parent_job: int | None = None

    @classmethod
    def again(cls, request: ImageRequest, job_id: int) -> ImageDraft:
        """The draft that makes `request` again with a new seed (reroll, remix, vary): every setting kept."""
        return cls(
            **(request.settings() | {"seed": None}),
            prompt=request.prompt,
            model=request.chosen,
            lora_scale=request.lora_scale,
            mode=request.mode,
            source_image=request.source_image,
            mask_image=request.mask_image,
            note=request.note,
            parent_job=job_id,
        )


R = TypeVar("R", bound=ImageRequest)


class ImageKind(JobKind[R]):
    """A kind whose jobs end in images: cost, order and storage shared; the request type is the subclass's."""

    label = "Generating"
    default_unit_s = 1.5

    def __init__(self, db: Database, models: ModelService, images_dir: Path) -> None:
        self._db = db
        self._models = models
        self._images_dir = images_dir

    @abstractmethod
    def from_image_request(self, request: ImageRequest) -> R:
        """This kind's request for a plain generation (a reroll or a variation of one of its results)."""

    def rerun(self, old: R, fresh: ImageRequest) -> R:
        """The request that runs `old` again with `fresh`'s values (a new seed, a new prompt)."""
        return self.from_image_request(fresh)

    @abstractmethod
    async def effective(self, job: Job) -> ImageRequest:
        """What a finished job of this kind ran (a /vary job's output prompt, say): follow-ups start from it."""

    def dump(self, request: R) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: R) -> str:
        return request.prompt

    def cost(self, request: R) -> int:
        return request.count

    def input_files(self, request: R) -> Iterable[tuple[Path, str]]:
        return request.files()

    def out_dir(self, job: Job) -> Path:
        return self._images_dir / f"{job.id:07d}"

    async def generate_task(self, request: ImageRequest) -> tuple[GenerateTask, ResolvedModel]:
        """The engine's generation, with the model (and its LoRA files) looked up now."""
        model = await self._models.resolve(request.chosen, request.lora_scale)
        engine_request = GenerateRequest(
            **request.settings(), prompt=request.full_prompt, model=model.spec.name, loras=model.loras
        )
        return GenerateTask(engine_request, model.spec), model

    async def store(
        self, job: Job, request: ImageRequest, outcome: ImagesOutcome, prompts: Sequence[str] = ()
    ) -> list[ImageRecord]:
        """Record the images and files of a finished generation; an attempt before a restart left the same ones.

        `prompts` gives each image its own prompt (a character sheet's panels); by default all share one.
        """
        p = outcome.params
        known = {image.index: image for image in await self._db.images.for_job(job.id)}
        records = []
        for saved in outcome.images:
            if saved.index in known:  # written by an attempt before a restart: same seed, same file
                records.append(known[saved.index])
                continue
            record = await self._db.images.add(
                job_id=job.id,
                index=saved.index,
                path=saved.file.path,
                sha256=saved.file.sha256,
                size_bytes=saved.file.size_bytes,
                width=saved.width,
                height=saved.height,
                seed=saved.seed,
                prompt=prompts[saved.index] if saved.index < len(prompts) else p.prompt,
                negative_prompt=p.negative,
                model=request.chosen or p.model,
                loras=tuple(p.loras),
                params=image_params(p),
            )
            records.append(record)
        files = [(r.path, OUTPUT) for r in records]
        if outcome.grid is not None:
            files.append((outcome.grid.path, GRID))
        await self._db.job_files.add(job.id, files)
        return records

    async def job_result(self, job: Job, r: ImageRequest) -> JobResult:
        """A finished job as delivery shows it: `r`, what ran (`effective`), with its images and grid."""
        images = sorted(await self._db.images.for_job(job.id), key=lambda i: i.index)
        grids = await self._db.job_files.for_job(job.id, GRID)
        # Shown after the images, e.g. the mask overlay of /edit.
        extra_files = tuple(f.path for f in await self._db.job_files.for_job(job.id, OVERLAY))
        return JobResult(
            job_id=job.id,
            kind=job.kind,
            requester_id=job.requester_id,
            prompt=r.full_prompt,
            negative_prompt=r.negative,
            model=r.chosen or r.base_model,
            loras=r.loras,
            seed=r.seed,
            # What ran: an edit may have needed more steps than asked (at least one step must denoise).
            steps=int(images[0].params.get("steps", r.steps)) if images else r.steps,
            guidance=r.guidance,
            width=r.width,
            height=r.height,
            images=tuple(result_image(i) for i in images),
            grid_path=grids[0].path if grids else None,
            spoiler=r.spoiler,
            note=r.note,
            extra_files=extra_files,
        )


def image_params(p: ResolvedParams) -> dict[str, Any]:
    """What an image records of its job's settings beyond its own columns (seed, size, prompt, negative, LoRAs)."""
    own_columns = {"negative", "count", "seed", "aspect", "width", "height"}
    settings = {k: v for k, v in p.settings().items() if k not in own_columns and k != "extras"}
    extras = {"extras": dict(p.extras)} if p.extras else {}
    return settings | extras | {"mode": p.mode, "base_model": p.model}


def result_image(image: ImageRecord) -> ResultImage:
    return ResultImage(image.id, image.index, image.path, image.seed, image.width, image.height)


def post_role(count: int) -> str:
    """A message of several images is a grid (keycaps pick one); of one, a single (⭐ picks it)."""
    return "grid" if count > 1 else "single"


@dataclass(frozen=True)
class ImagesDone:
    """The typed outcome of a generation, stored as the job's result."""

    VERSION: ClassVar[int] = 1

    image_ids: tuple[int, ...]
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "images": list(self.image_ids), "elapsed_s": self.elapsed_s}


def images_completion(records: list[ImageRecord], result: JobResult, done: Mapping[str, Any]) -> Completion:
    """The queue's completion of a generation: deliver `result`, post its images, charge them."""
    ids = tuple(r.id for r in sorted(records, key=lambda r: r.index))
    return Completion(
        result=done,
        deliverable=result,
        charge=len(records),
        posted_images=ids,
        post_role=post_role(len(ids)),
    )
