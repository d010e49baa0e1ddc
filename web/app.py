"""The web studio as one ASGI app: the guard, the API and page routers, the static files, the error wording.

`create_app` is all a composition root needs (`web.runner`, the tests). Each area of the studio has one router
module in `web/routes/` (API and pages side by side, or `pages.py` for the pages of the core areas); a new area
adds its module to `ROUTERS` and its templates to `web/templates/`, extending `base.html`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from studio.bundle import StudioBundle
from studio.errors import NotFound, Refused, StudioError
from studio.members_api import MembersUnavailable
from studio.settings import Settings
from web.auth import LocalAuth
from web.discord_login import DiscordLogin
from web.events import WebEvents
from web.guard import Guard, host_of
from web.routes import (
    archive_pages,
    autoposts,
    collections,
    discord,
    docs,
    events,
    gallery,
    generate,
    jobs,
    media,
    models,
    pages,
    tokens,
    train_pages,
    training,
    trainsets,
    uploads,
)

STATIC = Path(__file__).parent / "static"
ROUTERS: tuple[APIRouter, ...] = (
    pages.router,
    models.router,
    generate.router,
    jobs.router,
    events.router,
    media.router,
    docs.router,
)
ROUTERS += (gallery.router, collections.router, tokens.router, uploads.router, autoposts.router, archive_pages.router)
ROUTERS += (trainsets.router, training.router, train_pages.router)


def create_app(
    bundle: StudioBundle,
    auth: LocalAuth,
    events: WebEvents,
    settings: Settings,
    *,
    discord_login: DiscordLogin | None = None,
) -> FastAPI:
    """The app on the core's `bundle`; `events` must be registered as the delivery port of `web.auth.WEB_ORIGIN`.

    `discord_login`: Sign in with Discord for members (`/auth/*`), beside the owner's token; None: the token only.
    """
    # FastAPI's own docs pages load Swagger UI from a CDN (blank offline), and its /openapi.json asks nobody who they
    # are: `web.routes.docs` serves both behind the sign-in, the docs as a page of our own.
    app = FastAPI(title="Studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bundle = bundle
    app.state.auth = auth
    app.state.events = events
    app.state.settings = settings
    app.state.discord = discord_login
    for router in ROUTERS:
        app.include_router(router)
    if discord_login is not None:
        app.include_router(discord.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(StudioError, _studio_error)  # the core's refusals, worded for users
    public = settings.web.public_url
    app.add_middleware(Guard, hosts=[host_of(public)] if public else [], public_url=public)
    return app


async def _studio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StudioError)
    status = (
        404
        if isinstance(exc, NotFound)
        else 409
        if isinstance(exc, Refused)
        else 503
        if isinstance(exc, MembersUnavailable)
        else 422
    )
    return JSONResponse({"detail": exc.user_message}, status_code=status)
