"""The pages of the core areas: `/` is the login exchange (`?token=`) and the Create page."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from studio.images.api import ASPECTS, COUNTS, SCHEDULERS
from web.auth import SESSION_MAX_AGE_S, cookie_name
from web.deps import WRONG_TOKEN_DELAY_S, auth, bundle, page_asker
from web.pages import render, signin_page

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def create_page(request: Request, token: str | None = None) -> Response:
    """With `?token=`: trade the token for a session cookie and come back without it. Else the Create page."""
    if token is not None:
        return await _login(request, token)
    if await page_asker(request) is None:
        return signin_page(request)
    models = sorted(await bundle(request).models.catalog(), key=lambda info: info.kind != "lora")
    return render(request, "create.html", models=models, counts=COUNTS, aspects=ASPECTS, schedulers=SCHEDULERS)


async def _login(request: Request, token: str) -> Response:
    local = auth(request)
    if not local.token_matches(token):
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return render(request, "signin.html", status_code=401, wrong=True)
    _session, cookie = local.new_session()
    # 303 to the bare path: the token leaves the address bar, the history and any later Referer.
    response = RedirectResponse("/", status_code=303)
    secure = request.app.state.settings.web.public_url.startswith("https://")
    response.set_cookie(
        cookie_name(request.url.port),
        cookie,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    return response
