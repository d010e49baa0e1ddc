"""The archive's pages: Gallery, Image, History, Collections, Describe/Vary/Edit, Queue, Auto-posts and Settings.

Each page asks the core what it shows as the API does (the same calls, the same viewer) and leaves the actions to
its script in `web/static/`, which uses the JSON API: the pages have no private path.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from studio.errors import NotFound, StudioError
from studio.gallery.api import Viewer
from studio.images.api import MAX_DESCRIBE
from web.deps import bundle, page_asker
from web.pages import render, signin_page

router = APIRouter(tags=["pages"], include_in_schema=False)


def _missing(request: Request, message: str) -> Response:
    return render(request, "missing.html", status_code=404, message=message)


async def _filters(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the gallery's filter bar offers: the models, and the viewer's collections."""
    studio = bundle(request)
    models = sorted(await studio.models.catalog(), key=lambda info: (info.kind != "lora", info.name))
    return {"models": models, "collections": await studio.collections.list(viewer)}


@router.get("/gallery", response_class=HTMLResponse)
async def gallery_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    return render(request, "gallery.html", collection=None, **await _filters(request, Viewer(asker.caller)))


@router.get("/collections", response_class=HTMLResponse)
async def collections_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    found = await bundle(request).collections.list(Viewer(asker.caller))
    return render(request, "collections.html", collections=found)


@router.get("/collections/{collection_id}", response_class=HTMLResponse)
async def collection_page(collection_id: int, request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    viewer = Viewer(asker.caller)
    try:
        collection = await bundle(request).collections.get(viewer, collection_id)
    except NotFound as exc:
        return _missing(request, exc.user_message)
    return render(request, "gallery.html", collection=collection, **await _filters(request, viewer))


@router.get("/images/{image_id}", response_class=HTMLResponse)
async def image_page(image_id: int, request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    try:
        detail = await bundle(request).gallery.detail(Viewer(asker.caller), image_id)
    except NotFound as exc:
        return _missing(request, exc.user_message)
    return render(request, "image.html", d=detail, again=_create_link(detail))


def _create_link(detail: Any) -> str:
    """The Create page with this image's settings filled in ("use these settings")."""
    values = {
        "prompt": detail.card.prompt,
        "model": detail.card.model,
        "negative_prompt": detail.negative_prompt,
        "seed": detail.seed,
        "steps": detail.steps,
        "guidance": detail.guidance,
        "scheduler": detail.scheduler,
        "settings": detail.settings,
    }
    return "/?" + urlencode({key: value for key, value in values.items() if value not in (None, "")})


@router.get("/history", response_class=HTMLResponse)
async def history_page(request: Request, before_id: int | None = None) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    page = await bundle(request).gallery.history(Viewer(asker.caller), before_id)
    return render(request, "history.html", page=page)


@router.get("/tools", response_class=HTMLResponse)
async def tools_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    models = [m for m in await bundle(request).models.catalog() if m.kind != "lora"]
    return render(request, "tools.html", models=models, max_describe=MAX_DESCRIBE)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    view = await bundle(request).jobs.queue(asker.caller)
    caller = asker.caller
    sees_all = caller.bypasses_server_policy or caller.may_moderate  # who may act on others' jobs sees their prompts
    return render(request, "queue.html", view=view, me=caller.user_id, sees_all=sees_all)


@router.get("/autoposts", response_class=HTMLResponse)
async def autoposts_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    try:
        schedules = await bundle(request).autopost.list(asker.caller)
        refused = None
    except StudioError as exc:  # not a manager, or no server: the page says why
        schedules, refused = [], exc.user_message
    may_manage = asker.caller.may_manage_server
    return render(request, "autoposts.html", schedules=schedules, refused=refused, may_manage=may_manage)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request) -> Response:
    asker = await page_asker(request)
    if asker is None:
        return signin_page(request)
    tokens = await bundle(request).tokens.list(asker.caller)
    return render(request, "settings.html", tokens=tokens, caller=asker.caller)
