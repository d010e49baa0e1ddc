"""The checks every request passes before any route, and the headers every answer carries.

- **Host allow-list** (DNS rebinding): a page on evil.example whose name now resolves to 127.0.0.1 sends
  `Host: evil.example`, refused here (Jupyter's default).
- **Origin / Fetch Metadata on unsafe methods** (CSRF): allowed only when `Sec-Fetch-Site` is absent, `same-origin`
  or `none`, and `Origin` is absent or exactly ours. Chromium labels a page on *another port of 127.0.0.1*
  `same-site`, so refusing only `cross-site` would let it through (measured: shared/web-notes.md §2).
- **No CORS** headers at all: another origin's script can neither read an answer nor send credentials in a
  preflighted request.
- **Security headers**: a CSP of our own files only, no sniffing, no Referer (the login URL carries the token), no
  framing, no embedding by other origins.

The CSRF token check needs the session, so it is done where the session is read (`web.deps.require_caller`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # Other ports of this machine are "same site", so the SameSite cookie goes along when one of their pages embeds
    # our images; this keeps our answers out of any page but ours.
    "cross-origin-resource-policy": "same-origin",
}


def host_of(url: str) -> str:
    """The host of a URL as a Host header names it without its port ("[::1]" keeps its brackets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def _split_host(header: str) -> str:
    """`127.0.0.1:8765` → `127.0.0.1`; `[::1]:8765` → `[::1]`."""
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if ":" in header else header


class Guard:
    """ASGI middleware: Host allow-list, the unsafe-method origin check, and the security headers."""

    def __init__(self, app: ASGIApp, *, hosts: Iterable[str] = (), public_url: str = "") -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in (*LOCAL_HOSTS, *hosts) if h)
        public = urlsplit(public_url) if public_url else None
        self.public_origin = f"{public.scheme}://{public.netloc}".lower() if public and public.netloc else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        refusal = self._refusal(scope, headers, host)
        if refusal is not None:
            await self._with_headers(PlainTextResponse(refusal[1], status_code=refusal[0]), scope, receive, send)
            return
        await self._with_headers(self.app, scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, host: str) -> tuple[int, str] | None:
        if _split_host(host).lower() not in self.hosts:
            return 400, "Unknown Host header: open the studio by the address `studio web url` prints."
        if scope["method"] in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        ours = {f"{scope.get('scheme', 'http')}://{host}".lower()}
        if self.public_origin:
            ours.add(self.public_origin)
        foreign_site = site is not None and site not in ALLOWED_FETCH_SITES
        if foreign_site or (origin is not None and origin.lower() not in ours):
            return 403, "Refused: this request came from another site or port."
        return None

    async def _with_headers(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await app(scope, receive, send_with_headers)
