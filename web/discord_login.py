"""Sign in with Discord: the signed cookies of a sign-in in progress and of a member's session, and who they name.

Two cookies, both signed with the folder's session secret under salts of their own (a member's session can never
read as the owner's, nor the reverse):
- the *sign-in* cookie lives ten minutes: first the random `state` sent to Discord, then, once Discord said who it
  is, the user's id and the servers they may pick from;
- the *session* cookie (the same name as the token sign-in's) holds the user id, the chosen server's id and the
  CSRF token: nothing else, and never Discord's token.
What the member may do and see is asked of the bot on each request (`CachedMembers`, a minute's cache).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from studio.members_api import MemberView
from web.auth import SESSION_MAX_AGE_S, Session
from web.discord_oauth import DiscordOAuth
from web.members import CachedMembers

LOGIN_COOKIE = "studio_signin"
LOGIN_MAX_AGE_S = 600
CALLBACK_PATH = "/auth/callback"


@dataclass(frozen=True)
class Pending:
    """A sign-in in progress: before Discord, its `state`; after, the user and the servers they may choose."""

    state: str = ""
    user_id: int | None = None
    guild_ids: tuple[int, ...] = ()
    nonce: str = ""  # the server picker's form sends it back (a CSRF token for the pick)


class DiscordLogin:
    """The sign-in's parts: the provider, the bot's member answers (cached), and the cookies' signers."""

    def __init__(self, oauth: DiscordOAuth, members: CachedMembers, secret: str) -> None:
        self.oauth = oauth
        self.members = members
        self._sessions = URLSafeTimedSerializer(secret, salt="studio-member-session")
        self._pending = URLSafeTimedSerializer(secret, salt="studio-discord-signin")

    # -- the sign-in in progress -----------------------------------------------------------------------

    def start(self) -> tuple[str, str]:
        """A new sign-in: (Discord's authorize URL, the sign-in cookie holding its state)."""
        state = secrets.token_urlsafe(24)
        return self.oauth.authorize_url(state), self._pending.dumps({"s": state})

    def signed_in(self, user_id: int, guild_ids: tuple[int, ...]) -> tuple[Pending, str]:
        """Discord named the user: the pending choice of server, and its cookie."""
        pending = Pending(user_id=user_id, guild_ids=guild_ids, nonce=secrets.token_urlsafe(16))
        return pending, self._pending.dumps({"u": user_id, "g": list(guild_ids), "n": pending.nonce})

    def pending(self, cookie: str | None) -> Pending | None:
        data = _load(self._pending, cookie, LOGIN_MAX_AGE_S)
        if data is None:
            return None
        try:
            if "s" in data:
                return Pending(state=str(data["s"]))
            return Pending(user_id=int(data["u"]), guild_ids=tuple(int(g) for g in data["g"]), nonce=str(data["n"]))
        except (KeyError, TypeError, ValueError):
            return None

    @staticmethod
    def state_matches(pending: Pending | None, state: str) -> bool:
        return pending is not None and bool(pending.state) and hmac.compare_digest(pending.state, state)

    # -- the member's session ------------------------------------------------------------------------------

    def new_session(self, user_id: int, guild_id: int) -> str:
        """The session cookie of a member who chose a server."""
        return self._sessions.dumps({"u": user_id, "g": guild_id, "c": secrets.token_urlsafe(24)})

    def session(self, cookie: str | None) -> Session | None:
        data = _load(self._sessions, cookie, SESSION_MAX_AGE_S)
        if data is None:
            return None
        try:
            return Session(int(data["u"]), str(data["c"]), guild_id=int(data["g"]))
        except (KeyError, TypeError, ValueError):
            return None

    async def member(self, session: Session) -> MemberView | None:
        """The session's member as the bot sees them now (cached a minute); None once they left the server."""
        if session.guild_id is None:
            return None
        return await self.members.member(session.guild_id, session.user_id)


def _load(signer: URLSafeTimedSerializer, cookie: str | None, max_age: int) -> dict[str, Any] | None:
    if not cookie:
        return None
    try:
        data = signer.loads(cookie, max_age=max_age)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None
