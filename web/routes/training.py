"""LoRA training: plan (each value with its source, the ETA, memory and disk), start, follow, cancel, choose a
checkpoint, download the file, tail the run's journal. Who may train is the server's rule, as in Discord."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from studio.errors import NotFound, Refused
from studio.training.api import DOWNLOADS, PICTURES, TooFewImages
from web.deps import Authenticated, Bundle, Who
from web.routes.training_media import FILE, file_answer
from web.schemas import TicketOut
from web.schemas_training import ChooseIn, ChosenOut, LogOut, PlanIn, PlanOut, RunInfoOut, RunOut

router = APIRouter(tags=["training"], dependencies=Authenticated)


@router.get("/api/training", response_model=list[RunInfoOut])
async def list_runs(bundle: Bundle, caller: Who) -> list[RunInfoOut]:
    """This server's runs, newest first, with their scores and votes."""
    return [RunInfoOut.of(info) for info in await bundle.training.list(caller)]


@router.post("/api/training", response_model=PlanOut, status_code=201)
async def plan(body: PlanIn, bundle: Bundle, caller: Who) -> PlanOut | JSONResponse:
    """Check the set and plan a run: nothing runs until `start_url` is posted. Refused only for a set under its
    minimum, the studio's owner gets `force_images` beside `detail`: `force` plans it anyway on those images."""
    if body.force and not caller.bypasses_server_policy:
        raise Refused("Only the studio's owner trains on fewer images than the minimum: add images to the set.")
    try:
        view = await bundle.training.plan(
            caller, body.set_name, body.name, body.overrides(), base_model=body.base_model, force=body.force
        )
    except TooFewImages as few:
        if not few.forceable:
            raise
        # What the page needs to offer "Train anyway": the refusal, and the images a forced plan trains on.
        return JSONResponse({"detail": few.message, "force_images": few.images}, status_code=409)
    return PlanOut.of(view)


@router.post("/api/training/{run_id}/start", response_model=TicketOut, status_code=202)
async def start(run_id: int, bundle: Bundle, caller: Who) -> TicketOut:
    """Start a planned run (a second click is refused)."""
    return TicketOut.of(await bundle.training.start(caller, run_id))


@router.post("/api/training/{run_id}/resume", response_model=TicketOut, status_code=202)
async def resume(run_id: int, bundle: Bundle, caller: Who) -> TicketOut:
    """Go on with an interrupted run from its last checkpoint (one a command line that ended left): the same job,
    run and followed here. Its starter or a moderator only; a run that ended is refused."""
    return TicketOut.of(await bundle.training.resume(caller, run_id))


@router.get("/api/training/{run_id}", response_model=RunOut)
async def run(run_id: int, bundle: Bundle, caller: Who) -> RunOut:
    """A run: status, step, every loss so far, samples/s, ETA, the log tail, and its checkpoints once it ended."""
    return RunOut.of(await bundle.training.run(caller, run_id))


@router.post("/api/training/{run_id}/cancel", response_model=RunInfoOut)
async def cancel(run_id: int, bundle: Bundle, caller: Who) -> RunInfoOut:
    """Stop a run: it keeps a checkpoint to register from (or leaves the queue)."""
    return RunInfoOut.of(await bundle.training.cancel(caller, run_id))


@router.post("/api/training/{run_id}/checkpoint", response_model=ChosenOut)
async def choose(run_id: int, body: ChooseIn, bundle: Bundle, caller: Who) -> ChosenOut:
    """Register checkpoint `step` as the run's LoRA (or switch the LoRA's weights to it)."""
    return ChosenOut.of(await bundle.training.choose(caller, run_id, body.step))


@router.get("/api/training/{run_id}/download", response_class=FILE)
async def download(
    run_id: int, bundle: Bundle, caller: Who, format: Annotated[str, Query(description=", ".join(DOWNLOADS))] = "kohya"
) -> Response:
    """The LoRA's file: `kohya` (AUTOMATIC1111, ComfyUI) or `diffusers` (what the studio loads)."""
    path = await bundle.training.download(caller, run_id, format)
    answer = await file_answer(path, f"Run {run_id}'s {format} file")
    answer.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return answer


@router.get("/api/training/{run_id}/log", response_model=LogOut)
async def log_tail(run_id: int, bundle: Bundle, caller: Who, lines: Annotated[int, Query(ge=1, le=200)] = 50) -> LogOut:
    """The last lines of the run's journal: one per step the engine reported, and how it ended."""
    return LogOut(lines=list((await bundle.training.run(caller, run_id, lines)).log))


@router.get("/media/training/{run_id}/pictures/{which}", response_class=FILE)
async def picture(run_id: int, which: str, bundle: Bundle, caller: Who) -> Response:
    """A checkpoint's sample grid by step, `newest` (the latest grid), or `scales` (one prompt at 0.8/1.0/1.2)."""
    if not which.isdigit() and which not in PICTURES:
        raise NotFound(f"Ask for a checkpoint's step or one of {', '.join(PICTURES)}, not {which!r}.")
    path = await bundle.training.picture(caller, run_id, int(which) if which.isdigit() else which)
    return await file_answer(path, f"Run {run_id}'s picture {which}")
