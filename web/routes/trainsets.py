"""Training sets: list, show, create, add studio images by id (in batches) or uploads, take out, caption, check;
and the character sheet that fills a set from one reference image. Every rule is the core's (same as Discord)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from studio.errors import NotFound, StudioError
from web.deps import Authenticated, Bundle, Who
from web.routes.training_media import FILE, file_answer
from web.schemas_training import (
    BatchIn,
    BatchOut,
    BatchRefusal,
    CaptionIn,
    ItemOut,
    QuickSelectOut,
    SheetOut,
    TrainsetIn,
    TrainsetOut,
    TrainsetViewOut,
    UploadsOut,
    VerdictOut,
    set_url,
)

router = APIRouter(tags=["training sets"], dependencies=Authenticated)
MAX_FILES = 30  # uploads in one request: a set's worth


@router.get("/api/trainsets", response_model=list[TrainsetOut])
async def list_sets(bundle: Bundle, caller: Who) -> list[TrainsetOut]:
    """This server's training sets (every server's, for the studio's owner)."""
    return [TrainsetOut.of(info) for info in await bundle.trainsets.list(caller)]


@router.post("/api/trainsets", response_model=TrainsetOut, status_code=201)
async def create_set(body: TrainsetIn, bundle: Bundle, caller: Who) -> TrainsetOut:
    """A new, empty set; it becomes the caller's active set (reactions in Discord feed it)."""
    return TrainsetOut.of(await bundle.trainsets.create(caller, body.name, body.trigger_word, body.base_model))


@router.get("/api/trainsets/{name}", response_model=TrainsetViewOut)
async def show_set(name: str, bundle: Bundle, caller: Who) -> TrainsetViewOut:
    """The set, its images in order (with the studio image each was picked from), and the checks' verdict."""
    view = await bundle.trainsets.show(caller, name)
    items = [ItemOut.of(view.info.name, item) for item in view.items]
    return TrainsetViewOut(set=TrainsetOut.of(view.info), items=items, verdict=VerdictOut.of(view.verdict))


@router.post("/api/trainsets/{name}/items:batch", response_model=BatchOut)
async def add_images(name: str, body: BatchIn, bundle: Bundle, caller: Who) -> BatchOut:
    """Pick studio images into the set by id, as ⭐ reactions do; each one refused says why, the rest go in."""
    await _existing(bundle, caller, name)  # a set that is not there is the request's error, not each image's
    added, refused = [], []
    for image_id in dict.fromkeys(body.image_ids):  # once each, in the order given
        try:
            item, _captions = await bundle.curation.pick(caller, name, image_id)
        except StudioError as exc:
            refused.append(BatchRefusal(image_id=image_id, detail=exc.user_message))
            continue
        added.append(ItemOut.of(name, item))
    return BatchOut(added=added, refused=refused)


async def _existing(bundle: Bundle, caller: Who, name: str) -> None:
    if not any(info.name.casefold() == name.strip().casefold() for info in await bundle.trainsets.list(caller)):
        raise NotFound(f"There is no training set named {name.strip()!r} here. /train lists them.")


@router.delete("/api/trainsets/{name}/images/{image_id}", response_model=ItemOut)
async def take_out_image(name: str, image_id: int, bundle: Bundle, caller: Who) -> ItemOut:
    """Take the item picked from studio image `image_id` out of the set (deselecting it on the set page)."""
    return ItemOut.of(name, await bundle.curation.unpick(caller, name, image_id))


@router.post("/api/trainsets/{name}/items", response_model=UploadsOut)
async def add_uploads(
    name: str, request: Request, bundle: Bundle, caller: Who, files: Annotated[list[UploadFile], File()]
) -> UploadsOut:
    """Upload images into the set (PNG, JPEG, WebP, GIF: checked by their content, as in Discord)."""
    if len(files) > MAX_FILES:
        raise StudioError(f"Send at most {MAX_FILES} images at once.")
    limit = request.app.state.settings.max_attachment_bytes
    added, refused = [], []
    for upload in files:
        data = await upload.read(limit + 1)  # one byte over: the core refuses it with the limit in words
        try:
            added.append(ItemOut.of(name, await bundle.trainsets.add(caller, data, name)))
        except StudioError as exc:
            refused.append(f"{upload.filename or 'an image'}: {exc.user_message}")
    return UploadsOut(added=added, refused=refused)


@router.delete("/api/trainsets/{name}/items/{number}", response_model=ItemOut)
async def remove_item(name: str, number: int, bundle: Bundle, caller: Who) -> ItemOut:
    """Take image `number` out of the set (whoever added it, the set's owner or a moderator)."""
    return ItemOut.of(name, await bundle.trainsets.remove(caller, number, name))


@router.patch("/api/trainsets/{name}/items/{number}", response_model=ItemOut)
async def caption_item(name: str, number: int, body: CaptionIn, bundle: Bundle, caller: Who) -> ItemOut:
    """Correct an image's caption (a member's caption is never overwritten by the captioner)."""
    return ItemOut.of(name, await bundle.trainsets.caption(caller, number, body.caption, name))


@router.post("/api/trainsets/{name}/check", response_model=VerdictOut)
async def check_set(name: str, bundle: Bundle, caller: Who) -> VerdictOut:
    """Check the set before training: its count, and each weak image (blurry, near-duplicate, unlike the rest)."""
    return VerdictOut.of(await bundle.trainsets.check(caller, name))


@router.get("/media/trainsets/{name}/items/{number}", response_class=FILE)
async def item_file(name: str, number: int, bundle: Bundle, caller: Who) -> Response:
    """The set's copy of image `number` (numbers shift when an image is taken out: not cached)."""
    item = await bundle.trainsets.item(caller, number, name)
    return await file_answer(item.path, f"Image {number} of the set")


@router.post("/api/sheets", response_model=SheetOut, status_code=202)
async def start_sheet(
    bundle: Bundle,
    caller: Who,
    request: Request,
    image: Annotated[UploadFile, File(description="the character's reference image")],
    set_name: Annotated[str | None, Form()] = None,
    count: Annotated[int, Form(ge=4, le=40)] = 30,
    model: Annotated[str | None, Form()] = None,
) -> SheetOut:
    """A character sheet: `count` variations of the reference, in four groups, for the set `set_name`."""
    data = await image.read(request.app.state.settings.max_attachment_bytes + 1)
    started = await bundle.sheets.start(caller, data, count, set_name or None, model or None)
    return SheetOut.of(started)


@router.post("/api/sheets/{job_id}/quick-select", response_model=QuickSelectOut)
async def quick_select(job_id: int, bundle: Bundle, caller: Who) -> QuickSelectOut:
    """Put the first 25 images of the sheet whose last group is job `job_id` into its set."""
    name, added, made = await bundle.sheets.quick_select(caller, job_id)
    return QuickSelectOut(set_name=name, added=added, made=made, url=set_url(name))
