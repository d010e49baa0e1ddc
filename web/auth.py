"""Who asks: the local owner's token, exchanged once for a signed session cookie, or sent as a Bearer header.

Local token mode (the default, as Jupyter does it): a random token kept in `<data>/web-token` (0600) is printed in
the URL `studio web` shows. `GET /?token=…` compares it in constant time and answers with a session cookie signed
by the secret in `<data>/web-secret` (0600) and a 303 to `/`, so the token leaves the address bar, the history and
any Referer. Scripts send `Authorization: Bearer <token>` instead. Whoever holds the token is the machine's owner.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from studio.contract import Caller, Origin

TOKEN_FILE = "web-token"  # noqa: S105 - the file's name, not a secret
SECRET_FILE = "web-secret"  # noqa: S105 - the file's name, not a secret
COOKIE = "studio_session"


def cookie_name(port: int | None) -> str:
    """The session cookie's name for a studio on `port`. Browsers send a host's cookies to all its ports, so each
    port names its own: two studios on one machine (a demo folder and the real one) keep their sessions apart."""
    return f"{COOKIE}_{port or 80}"


SESSION_MAX_AGE_S = 14 * 24 * 3600
# The jobs asked for at the browser or through the API are stored with this origin, and the web's delivery port is
# registered for it alone: the web shows its own jobs, never those of a command line or of Discord. Like a member's
# command, a web job still queued at a restart stays queued and runs once a process serves the web again.
WEB_ORIGIN: Origin = "web"
OWNER_ID = 0  # the machine's owner, as the command line records it
# The machine's owner at the browser: every capability, no server's policy, only the model's own bounds.
LOCAL_OWNER = Caller(
    user_id=OWNER_ID, may_moderate=True, may_manage_server=True, bypasses_server_policy=True, origin=WEB_ORIGIN
)


def _read_or_make(path: Path, make: bool) -> str:
    """The secret in `path`, made (random, 0600) when absent or `make` (a rotation)."""
    if not make:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            value = ""
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    partial.replace(path)  # atomic, and the file was never readable by others
    return value


def session_secret(data_dir: Path) -> str:
    """The key that signs session cookies (made on first use; rotated with the token)."""
    return _read_or_make(data_dir / SECRET_FILE, False)


def read_token(data_dir: Path, *, rotate: bool = False) -> str:
    """The web's access token (made on first use); `rotate` replaces it, which also ends every session."""
    token = _read_or_make(data_dir / TOKEN_FILE, rotate)
    if rotate:
        _read_or_make(data_dir / SECRET_FILE, True)  # cookies signed with the old secret stop working
    return token


@dataclass(frozen=True)
class Session:
    """What the signed cookie holds: who, and the CSRF token the pages send back in `X-CSRF-Token`."""

    user_id: int
    csrf: str
    guild_id: int | None = None  # the server a member signed in with Discord chose (None: the owner)


class LocalAuth:
    """Local token mode: one owner, one token; sessions are cookies signed with the folder's secret."""

    def __init__(self, data_dir: Path) -> None:
        self._token = read_token(data_dir)
        self._signer = URLSafeTimedSerializer(_read_or_make(data_dir / SECRET_FILE, False), salt="studio-session")

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token.encode())

    def new_session(self, user_id: int = OWNER_ID) -> tuple[Session, str]:
        """A fresh session for `user_id` (the owner, in local token mode), and its cookie value."""
        session = Session(user_id, secrets.token_urlsafe(24))
        return session, self._signer.dumps({"u": session.user_id, "c": session.csrf})

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if it is ours, unexpired and well formed."""
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE_S)
            return Session(int(data["u"]), str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def caller(self, user_id: int) -> Caller:
        """The `Caller` a session or a token stands for (the owner: the only user in local mode)."""
        if user_id != OWNER_ID:
            raise ValueError(f"local token mode knows only the owner, not user {user_id}")
        return LOCAL_OWNER
