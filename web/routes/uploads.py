"""Describe, vary and edit an uploaded image (multipart). The core checks each upload by its content (type, bytes,
pixels) as for a Discord attachment; the web only stops reading past the studio's byte limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel

from studio.images.api import MAX_DESCRIBE, MAX_INSTRUCTION, EditImageInput, VaryImageInput
from web.deps import Authenticated, Bundle, Who
from web.schemas import TicketOut

router = APIRouter(prefix="/api", tags=["uploads"], dependencies=Authenticated)


class DescribeOut(BaseModel):
    job_id: int
    prompts: list[str]


async def _read(request: Request, upload: UploadFile) -> bytes:
    limit: int = request.app.state.settings.max_attachment_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"That file is over {limit // (1024 * 1024)} MiB: send a smaller image.")
    return data


@router.post("/describe", response_model=DescribeOut)
async def describe(
    request: Request,
    bundle: Bundle,
    caller: Who,
    image: Annotated[UploadFile, File()],
    count: Annotated[int, Form(ge=1, le=MAX_DESCRIBE)] = 4,
) -> DescribeOut:
    """Prompts that could have made the image (waits for the describe job)."""
    result = await bundle.describe.describe(caller, await _read(request, image), count)
    return DescribeOut(job_id=result.job_id, prompts=list(result.prompts))


@router.post("/vary", response_model=TicketOut, status_code=202)
async def vary(
    request: Request,
    bundle: Bundle,
    caller: Who,
    image: Annotated[UploadFile, File()],
    instruction: Annotated[str, Form(min_length=1, max_length=MAX_INSTRUCTION)],
    strength: Annotated[float | None, Form(ge=0, le=1)] = None,
    count: Annotated[int | None, Form()] = None,
    model: Annotated[str | None, Form()] = None,
    seed: Annotated[int | None, Form(ge=0)] = None,
) -> TicketOut:
    """Variations of an uploaded image, changed as `instruction` says."""
    options = VaryImageInput(instruction=instruction, strength=strength, count=count, model=model or None, seed=seed)
    return TicketOut.of(await bundle.edits.vary_image(caller, await _read(request, image), options))


@router.post("/edit", response_model=TicketOut, status_code=202)
async def edit(
    request: Request,
    bundle: Bundle,
    caller: Who,
    image: Annotated[UploadFile, File()],
    instruction: Annotated[str, Form(min_length=1, max_length=MAX_INSTRUCTION)],
    mask: Annotated[UploadFile | None, File()] = None,
    region: Annotated[str | None, Form()] = None,
    count: Annotated[int | None, Form()] = None,
    model: Annotated[str | None, Form()] = None,
    seed: Annotated[int | None, Form(ge=0)] = None,
) -> TicketOut:
    """Change part of an uploaded image: the white of `mask`, or the part `region` names."""
    options = EditImageInput(
        instruction=instruction, region=region or None, count=count, model=model or None, seed=seed
    )
    mask_bytes = await _read(request, mask) if mask is not None and mask.filename else None
    return TicketOut.of(await bundle.edits.edit_image(caller, await _read(request, image), options, mask_bytes))
