"""Rendering the server-side pages: Jinja2 templates in `web/templates/`, each extending `base.html`.

`render` hands every template what the layout needs: the navigation, and the session's CSRF token, which
`base.html` puts in `<meta name="csrf-token">` for `static/studio.js` to send back in `X-CSRF-Token`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# The navigation bar: (path, label). A new area appends its page here.
NAV: list[tuple[str, str]] = [
    ("/", "Create"),
    ("/gallery", "Gallery"),
    ("/train", "Train"),
    ("/collections", "Collections"),
    ("/history", "History"),
    ("/tools", "Describe / Vary / Edit"),
    ("/queue", "Queue"),
    ("/autoposts", "Auto-posts"),
    ("/settings", "Settings"),
    ("/docs", "API"),
]


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    asker = getattr(request.state, "asker", None)
    session = getattr(asker, "session", None)
    context = {"nav": NAV, "csrf": session.csrf if session is not None else "", **context}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def signin_page(request: Request) -> HTMLResponse:
    """The page that says how to sign in, for a page asked for by nobody."""
    return render(request, "signin.html", status_code=401)
