"""The training pages: the hub, a set's selection page, the character sheet, a new training, a run, test a LoRA.

Each page is the shell and the core's data at load; its script (`static/train-*.js`) does the rest through the
public API above, so the browser never takes a private path.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from studio.errors import StudioError
from studio.gallery.api import ImageCard, ImageFilter, Viewer
from studio.trainsets.api import RECOMMENDED_IMAGES, TrainsetInfo
from web.deps import bundle, page_asker
from web.pages import render, signin_page

router = APIRouter(tags=["pages"], include_in_schema=False)
CANDIDATES = 60  # the newest studio images offered on a set page opened without a sheet
QUICK_SELECT = 25
SCALES = (0.8, 1.0, 1.2)


def _same(typed: str, name: str) -> bool:
    """Whether a name in an address names `name` (sets and models are found again in any case)."""
    return typed.strip().casefold() == name.casefold()


def _named(sets: list[TrainsetInfo], name: str) -> TrainsetInfo | None:
    return next((info for info in sets if _same(name, info.name)), None)


@router.get("/train", response_class=HTMLResponse)
async def hub(request: Request) -> Response:
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    core = bundle(request)
    sets = await core.trainsets.list(asker.caller)
    runs = await core.training.list(asker.caller)
    return render(request, "train_hub.html", sets=sets, runs=runs)


@router.get("/train/sets/{name}", response_class=HTMLResponse)
async def set_page(request: Request, name: str, jobs: str = "") -> Response:
    """The set's selection page: candidates (a sheet's jobs' images, or the newest images) to click in or out."""
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    core = bundle(request)
    info = _named(await core.trainsets.list(asker.caller), name)
    if info is None:
        return render(request, "train_missing.html", status_code=404, what=f"training set {name!r}")
    viewer = Viewer(asker.caller)
    job_ids = [int(part) for part in jobs.split(",") if part.strip().isdigit()][:10]
    candidates: list[ImageCard] = []
    if job_ids:
        for job_id in job_ids:
            try:
                images = (await core.gallery.job_result(viewer, job_id)).images
            except StudioError:  # not one of the viewer's image jobs, or not made yet: nothing to offer from it
                continue
            candidates += [await core.gallery.image(viewer, image.image_id) for image in images]
    else:
        page = await core.gallery.images(viewer, ImageFilter(scope="mine", limit=CANDIDATES))
        candidates = list(page.images)
    return render(
        request,
        "train_set.html",
        info=info,
        candidates=candidates,
        target=RECOMMENDED_IMAGES,
        quick=QUICK_SELECT,
        jobs=",".join(map(str, job_ids)),
    )


@router.get("/train/sheet", response_class=HTMLResponse)
async def sheet_page(request: Request) -> Response:
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    sets = await bundle(request).trainsets.list(asker.caller)
    return render(request, "train_sheet.html", sets=sets)


@router.get("/train/new", response_class=HTMLResponse)
async def new_page(request: Request, set: str = "") -> Response:
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    core = bundle(request)
    sets = await core.trainsets.list(asker.caller)
    bases = [info for info in await core.models.catalog() if info.kind == "base"]
    chosen = _named(sets, set)
    # The set's own base model, else the studio's default: what a plan without one would use.
    base = (chosen.base_model if chosen else None) or request.app.state.settings.default_model
    return render(request, "train_new.html", sets=sets, bases=bases, chosen=set, base=base)


@router.get("/train/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: int) -> Response:
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    view = await bundle(request).training.run(asker.caller, run_id)  # another server's run: 404
    return render(request, "train_run.html", info=view.info)


@router.get("/models/{name}/test", response_class=HTMLResponse)
async def test_page(request: Request, name: str) -> Response:
    """Test a LoRA: one prompt at LoRA scales 0.8, 1.0 and 1.2 side by side, and its files to download."""
    if (asker := await page_asker(request)) is None:
        return signin_page(request)
    core = bundle(request)
    loras = [m for m in await core.models.catalog() if m.kind == "lora"]
    model = next((m for m in loras if _same(name, m.name) or _same(name, m.display_name)), None)
    if model is None:
        return render(request, "train_missing.html", status_code=404, what=f"LoRA {name!r}")
    runs = [r for r in await core.training.list(asker.caller) if _same(r.model_name or "", model.display_name)]
    return render(request, "train_test.html", model=model, run=runs[0] if runs else None, scales=SCALES)
