"""The sheet kind: a character sheet from one reference image, in groups that each post as a result.

The reference workflow: one image → about 30 variations in four groups (face angles, expressions, body
poses, contexts) → pick 20-30 for training. Each group is its own job on the queue (other members' jobs
interleave). With FLUX.1 Kontext (chosen, or installed when no model is chosen) each panel is an instruction
applied to the reference; otherwise it is image-to-image from the reference with the panel's words added to the
reference's caption, at a strength that keeps the face as well as the base model allows. The last group's result
carries a Quick select button that puts the first 25 images in a training set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Self

from engine import ModelSpec, SheetOutcome, SheetTask, WorkOrder, family_of, model_size
from storage import Database
from storage.records import ImageRecord, Job
from studio.contract import Caller
from studio.errors import NotFound, Refused, StudioError
from studio.images.images import ImageDraft, ImageKind, ImageRequest, ImagesDone, images_completion
from studio.images.submitter import ImageSubmitter
from studio.jobs.kind import Completion
from studio.jobs.queue import JobQueue
from studio.models.service import ModelService
from studio.trainsets.api import SheetStarted
from studio.trainsets.service import NewItem, TrainsetService
from studio.uploads import Uploads

# The reference workflow's groups and panels (the list), in the order they are posted.
GROUPS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    # (group, img2img strength, panels): the face survives low strengths; poses and places need more change.
    (
        "face angles",
        0.55,
        (
            "front view portrait",
            "left profile",
            "right profile",
            "three-quarter view facing left",
            "three-quarter view facing right",
            "seen from above",
            "seen from below",
            "looking over the shoulder",
        ),
    ),
    (
        "expressions",
        0.45,
        (
            "smiling",
            "laughing",
            "serious expression",
            "surprised expression",
            "thoughtful expression",
            "neutral expression",
        ),
    ),
    (
        "body poses",
        0.65,
        (
            "standing, full body",
            "sitting on a chair",
            "walking",
            "leaning against a wall",
            "arms crossed",
            "hands on hips",
            "kneeling",
            "jumping",
        ),
    ),
    (
        "contexts",
        0.65,
        (
            "in a gym",
            "in a café",
            "on a beach",
            "in a bedroom",
            "on a city street",
            "in an office",
            "in a park",
            "in a restaurant",
        ),
    ),
)
FULL_SHEET = sum(len(panels) for _, _, panels in GROUPS)  # 30
MIN_SHEET = len(GROUPS)
QUICK_SELECT = 25
METHODS = {
    "img2img": "image-to-image from the reference",
    "kontext": "FLUX.1 Kontext instructions on the reference",
    "references": "instructions on the reference and the best panels so far",
}


def sheet_method(spec: ModelSpec) -> str:
    """How the engine's sheet task draws panels with this model (engine.tasks.sheet)."""
    if not spec.preset.edits_by_instruction:
        return "img2img"
    return "references" if family_of(spec.family).max_references > 1 else "kontext"


def plan_sheet(count: int) -> list[tuple[str, float, tuple[str, ...]]]:
    """`count` panels spread over the groups in turn (the first of each group first), empty groups left out."""
    if not MIN_SHEET <= count <= FULL_SHEET:
        raise StudioError(f"A character sheet has {MIN_SHEET} to {FULL_SHEET} images (got {count}).")
    taken = [0] * len(GROUPS)
    for _ in range(count):
        # The group with the fewest panels taken so far, among those with panels left.
        open_groups = [g for g, (_name, _strength, panels) in enumerate(GROUPS) if taken[g] < len(panels)]
        taken[min(open_groups, key=lambda g: (taken[g], g))] += 1
    return [(name, strength, panels[: taken[g]]) for g, (name, strength, panels) in enumerate(GROUPS) if taken[g]]


def chunks(panels: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    """A group split into jobs of at most `size` images (a server may allow fewer images per job)."""
    return [panels[i : i + size] for i in range(0, len(panels), max(1, size))]


@dataclass(frozen=True)
class SheetRequest(ImageRequest):
    """One group of a sheet: the reference is `source_image`; `count` is the number of panels."""

    group: str = ""
    panels: tuple[str, ...] = ()
    # The sheet's jobs are queued in one step, so their ids follow each other: job `part` of `parts`.
    part: int = 1
    parts: int = 1
    target_set: str | None = None  # the set Quick select fills (default: the clicking member's active set)
    description: str | None = None  # what the reference shows; None: the engine captions it (a remix sets it)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        request = super().from_json(data)
        return replace(request, panels=tuple(str(p) for p in data.get("panels", ())))

    @classmethod
    def extend(cls, request: ImageRequest, **group: Any) -> Self:
        base = {f.name: getattr(request, f.name) for f in fields(ImageRequest)}
        return cls(**base, **group)


@dataclass(frozen=True)
class SheetDone(ImagesDone):
    description: str = ""  # the reference's caption every panel's prompt starts from

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "description": self.description}


class SheetKind(ImageKind[SheetRequest]):
    name = "sheet"
    label = "Drawing a character sheet"

    def parse(self, data: Mapping[str, Any]) -> SheetRequest:
        return SheetRequest.from_json(data)

    def from_image_request(self, request: ImageRequest) -> SheetRequest:
        return SheetRequest.extend(request)

    def rerun(self, old: SheetRequest, fresh: ImageRequest) -> SheetRequest:
        # The same group again (panels, strength, size): a reroll is a new seed, a remix a new description.
        return SheetRequest.extend(
            replace(fresh, count=len(old.panels), strength=old.strength),
            group=old.group,
            panels=old.panels,
            description=fresh.prompt,
        )

    def summary(self, request: SheetRequest) -> str:
        return f"character sheet: {request.group} ({len(request.panels)})"

    async def effective(self, job: Job) -> ImageRequest:
        """The group as it ran: its prompt is the description the panels started from (what a remix edits)."""
        request = self.parse(job.request)
        described = (job.result or {}).get("description") or request.description
        return replace(request, prompt=described, full_prompt=described) if described else request

    async def order(self, job: Job, request: SheetRequest) -> WorkOrder:
        task, model = await self.generate_task(replace(request, count=1))
        sheet = SheetTask(task, request.panels, model.trigger_word, request.description)
        inputs = {role: path for path, role in request.files()}
        return WorkOrder(job.id, "sheet", sheet, inputs, self.out_dir(job))

    async def complete(self, job: Job, request: SheetRequest, outcome: SheetOutcome) -> Completion:
        records = await self.store(job, request, outcome.images, outcome.prompts)
        done = SheetDone(tuple(r.id for r in records), outcome.images.elapsed_s, outcome.description)
        result = await self.job_result(job, request)
        method = METHODS.get(outcome.method, outcome.method)
        note = f"Character sheet · {request.group} ({len(request.panels)}) · {method}, from: {outcome.description}"
        if outcome.identity_kept is not None:  # the base model's own eyes judged each panel against the reference
            note += f" · same character in {outcome.identity_kept}/{len(request.panels)} panels"
        result = replace(
            result,
            prompt=outcome.prompts[0] if outcome.prompts else result.prompt,
            note=note,
            quick_select=request.part == request.parts,
        )
        return images_completion(records, result, done.to_json())


class SheetService:
    """/charactersheet and Quick select."""

    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        submitter: ImageSubmitter,
        models: ModelService,
        uploads: Uploads,
        trainsets: TrainsetService,
    ) -> None:
        self._db = db
        self._queue = queue
        self._submitter = submitter
        self._models = models
        self._uploads = uploads
        self._trainsets = trainsets

    async def start(
        self,
        caller: Caller,
        image: bytes,
        count: int = FULL_SHEET,
        set_name: str | None = None,
        model: str | None = None,
    ) -> SheetStarted:
        limits = await self._queue.admission.check_access(caller)
        jobs = [
            (group, strength, part)
            for group, strength, panels in plan_sheet(count)
            for part in chunks(panels, limits.max_count)
        ]
        target = None
        if set_name:  # refuse an unknown or locked set before any work
            found = await self._trainsets.named(caller, set_name)
            await self._trainsets.check_adding(caller.user_id, found)
            target = found.name
        # The reference workflow's baseline: an instruction-editing model keeps the face far better.
        model = model or await self._models.instruct_model()
        resolved = await self._models.resolve(model)
        upload = await self._uploads.image(image)
        width, height = model_size(upload.width, upload.height, resolved.spec)
        entries: list[tuple[Caller, SheetRequest]] = []
        for n, (group, strength, panels) in enumerate(jobs, start=1):
            draft = ImageDraft(
                prompt=f"character sheet: {group}",
                model=model,
                count=1,
                width=width,
                height=height,
                mode="img2img",
                strength=strength,
                source_image=str(upload.path),
            )
            request, limits = await self._submitter.prepare(caller, draft)
            sheet = SheetRequest.extend(
                replace(request, count=len(panels)),
                group=group,
                panels=panels,
                part=n,
                parts=len(jobs),
                target_set=target,
            )
            # Only the first group shows on the interaction's response; the others get channel messages.
            who = caller if n == 1 else replace(caller, interaction_token=None, token_expires_at=None)
            entries.append((who, sheet))
        # Weighed as one request against the member's limits and quota, queued in one step.
        tickets = await self._queue.submit_batch("sheet", entries, limits=limits)
        groups = tuple((group, len(panels)) for group, _, panels in jobs)
        method = METHODS[sheet_method(resolved.spec)]
        return SheetStarted(tuple(t.job_id for t in tickets), groups, tickets[-1].eta_s, method)

    async def _sheet_images(self, last: Job, request: SheetRequest) -> list[ImageRecord]:
        """The images of every job of the sheet whose last job is `last`, in the order they were posted."""
        images: list[ImageRecord] = []
        for job_id in range(last.id - request.parts + 1, last.id + 1):
            job = await self._queue.find(job_id)
            if job is None or job.kind != "sheet" or job.requester_id != last.requester_id:
                continue
            other = SheetRequest.from_json(job.request)
            if (other.parts, other.source_image) == (request.parts, request.source_image):
                images += await self._db.images.for_job(job_id)
        return images

    async def quick_select(self, caller: Caller, job_id: int) -> tuple[str, int, int]:
        """Add the sheet's first 25 images to its set (or the caller's active set): (set name, added, made)."""
        await self._queue.admission.check_access(caller)
        job = await self._queue.source_job(job_id)
        if job.kind != "sheet":
            raise NotFound("This is not a character sheet.")
        request = SheetRequest.from_json(job.request)
        target = await self._trainsets.target(caller, request.target_set)
        images = await self._sheet_images(job, request)
        if not images:
            raise Refused("The sheet's images are not made yet: wait for its groups to be posted.")
        picked = [NewItem(i.path, image_id=i.id, sha256=i.sha256) for i in images[:QUICK_SELECT]]
        added, _ = await self._trainsets.add_items(target, caller.user_id, "sheet", picked)
        return target.name, len(added), len(images)
