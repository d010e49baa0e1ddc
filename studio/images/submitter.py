"""Queuing an image job: a draft checked against the model's bounds and the guild's policy, then submitted.

Every front door that makes images (/generate, the buttons, /vary, /edit, sheets, auto-posts) goes through the
`ImageSubmitter`, so the checks are made once, when the job is queued.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine import EngineError, GenerateRequest, ResolvedParams, resolve, with_trigger
from storage.records import GuildSettings
from studio import policy
from studio.contract import Caller, JobTicket
from studio.errors import StudioError
from studio.images.images import ImageDraft, ImageKind, ImageRequest
from studio.jobs.queue import JobQueue
from studio.models.service import ModelService, ResolvedModel


class ImageSubmitter:
    """Turns a draft into a validated `ImageRequest` under the model's bounds and the guild's policy, and queues it."""

    def __init__(self, queue: JobQueue, models: ModelService) -> None:
        self._queue = queue
        self._admission = queue.admission
        self._models = models

    async def submit(
        self,
        caller: Caller,
        kind_name: str,
        draft: ImageDraft,
        *,
        like: ImageRequest | None = None,
        priority: int = 0,
    ) -> JobTicket:
        """Validate `draft` and queue it as a job of `kind_name` (a kind that makes images).

        `like` is the request of the job this one reruns (a reroll, a remix): what the kind keeps of it.
        """
        kind = self._queue.kind(kind_name)
        if not isinstance(kind, ImageKind):
            raise StudioError(f"Jobs of kind {kind_name!r} make no images.")
        request, limits = await self.prepare(caller, draft)
        rerun = kind.from_image_request(request) if like is None else kind.rerun(like, request)
        return await self._queue.submit(caller, kind_name, rerun, limits=limits, priority=priority)

    async def prepare(self, caller: Caller, draft: ImageDraft) -> tuple[ImageRequest, GuildSettings]:
        prompt = (draft.prompt or "").strip()
        if not prompt:
            raise StudioError("The prompt is empty. Describe the image you want.")
        limits = await self._admission.limits(caller)
        await _require_inputs(draft)
        model = await self._models.resolve(draft.model, draft.lora_scale)
        full_prompt = with_trigger(prompt, model.trigger_word)
        params = _validate(draft, model, full_prompt)
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
        request = ImageRequest(
            # The draft's strength: the image it applies to is read when the job runs (None: the mode's default).
            **(params.settings() | {"strength": draft.strength}),
            prompt=prompt,
            full_prompt=full_prompt,
            chosen=model.chosen,
            base_model=model.spec.name,
            lora_scale=draft.lora_scale,
            loras=params.loras,
            mode=draft.mode,
            source_image=draft.source_image,
            mask_image=draft.mask_image,
            note=draft.note,
            parent_job=draft.parent_job,
            spoiler=spoiler,
        )
        return request, limits


def _validate(draft: ImageDraft, model: ResolvedModel, prompt: str) -> ResolvedParams:
    """The draft's settings checked against the model now; the strength waits for the image it applies to."""
    settings = draft.settings() | {"strength": None}
    request = GenerateRequest(**settings, prompt=prompt, model=model.spec.name, loras=model.loras)
    try:
        return resolve(request, model.spec)  # draws the seed when none was given
    except EngineError as exc:
        raise StudioError(exc.message) from None


async def _require_inputs(draft: ImageDraft) -> None:
    """A job that starts from files (rerolls and remixes of /vary and /edit) needs them still on disk."""
    paths = [Path(p) for p in (draft.source_image, draft.mask_image) if p]
    if paths and not all(await asyncio.to_thread(lambda: [p.is_file() for p in paths])):
        raise StudioError("The image this job started from is gone from the server. Start again from a new image.")
