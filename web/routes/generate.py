"""Text to image, a job's status with its images, and the follow-ups under a result (U, V, 🔄, remix)."""

from __future__ import annotations

from fastapi import APIRouter

from studio.bundle import StudioBundle
from studio.errors import Refused
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput, ResultImage
from web.deps import Authenticated, Bundle, Events, Sees, Who
from web.schemas import ImageOut, JobOut, RemixIn, TextToImageIn, TicketOut, UpscaleIn, VaryIn

router = APIRouter(prefix="/api", tags=["generate"], dependencies=Authenticated)


async def done_images(bundle: StudioBundle, viewer: Viewer, job_id: int) -> tuple[ResultImage, ...]:
    """The images of a finished job that the viewer may see (none for a job that makes no images)."""
    try:
        return (await bundle.gallery.job_result(viewer, job_id)).images
    except Refused:  # a describe, a training: no images to show
        return ()


@router.post("/generate/text-to-image", response_model=TicketOut, status_code=202)
async def text_to_image(body: TextToImageIn, bundle: Bundle, caller: Who) -> TicketOut:
    """Queue a generation of `num_outputs` images; follow it at `events_url` (SSE) or `status_url`."""
    options = GenerateInput(
        prompt=body.prompt,
        count=body.num_outputs,
        model=body.model,
        negative=body.negative_prompt or "",
        aspect=body.aspect,
        seed=body.seed,
        steps=body.steps,
        guidance=body.guidance,
        lora_scale=body.lora_scale,
        scheduler=body.scheduler,
        extras=body.extras,
    )
    return TicketOut.of(await bundle.generate.submit(caller, options))


@router.get("/generate/{job_id}", response_model=JobOut)
async def job_status(job_id: int, bundle: Bundle, events: Events, caller: Who, viewer: Sees) -> JobOut:
    """A job's status, progress and, once done, its images (only for whoever may see the job)."""
    view = await bundle.jobs.job(caller, job_id)
    images = await done_images(bundle, viewer, job_id) if view.status == "done" else ()
    progress = events.last_progress(job_id) or {}
    return JobOut(
        job_id=view.job_id,
        kind=view.kind,
        status=view.status,  # type: ignore[arg-type]  # the core's statuses are the Literal's
        position=view.position,
        eta_s=progress.get("eta_s", view.eta_s),
        step=progress.get("step", view.step),
        total=progress.get("total"),
        summary=view.summary,
        error=view.error,
        images=[ImageOut.of(image) for image in images],
    )


@router.post("/jobs/{job_id}/reroll", response_model=TicketOut, status_code=202)
async def reroll(job_id: int, bundle: Bundle, caller: Who) -> TicketOut:
    """🔄 The same request again with new seeds."""
    await bundle.jobs.job(caller, job_id)  # only whoever may see a job follows it up (ids are sequential)
    return TicketOut.of(await bundle.followups.reroll(caller, job_id))


@router.post("/jobs/{job_id}/remix", response_model=TicketOut, status_code=202)
async def remix(job_id: int, body: RemixIn, bundle: Bundle, caller: Who) -> TicketOut:
    """The same request with another prompt."""
    await bundle.jobs.job(caller, job_id)
    return TicketOut.of(await bundle.followups.remix(caller, job_id, body.prompt))


@router.post("/jobs/{job_id}/vary", response_model=TicketOut, status_code=202)
async def vary(job_id: int, body: VaryIn, bundle: Bundle, caller: Who) -> TicketOut:
    """V: variations of one image of the job."""
    await bundle.jobs.job(caller, job_id)
    return TicketOut.of(await bundle.followups.vary(caller, job_id, body.index, body.strength))


@router.post("/jobs/{job_id}/upscale", response_model=ImageOut)
async def upscale(job_id: int, body: UpscaleIn, bundle: Bundle, caller: Who) -> ImageOut:
    """U: one image of the job on its own, full size."""
    await bundle.jobs.job(caller, job_id)
    return ImageOut.of(await bundle.followups.upscale(caller, job_id, body.index))
