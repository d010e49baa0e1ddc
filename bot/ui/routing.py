"""Which interaction token shows which job, until the services persist the token themselves.

The contract's `JobRoute` carries `interaction_token`/`token_expires_at`, but `JobsApi.submit_generate`
(and reroll/vary/remix) take no token, so a service cannot persist it. Until the contract grows that,
the adapter keeps the token here: a command opens `routes.pending(token, expires_at)` around its
service call, and `DiscordDelivery` fills a token-less route from it:

- a delivery call made while the service call runs (same task, or a task it started) claims the
  pending token for its job id, once: a second job seen in that context does not get it;
- afterwards the command calls `routes.remember(job_id, ...)` with the ticket, for later calls.

A route that already has a token (a service that persists it) is left as it is.
This module imports no discord so the service author can adopt it as is.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from bot.services.api import JobRoute

TOKEN_LIFETIME = timedelta(minutes=15)


@dataclasses.dataclass
class _Pending:
    token: str
    expires_at: datetime
    job_id: int | None = None


_PENDING: ContextVar[_Pending | None] = ContextVar("studio_pending_interaction", default=None)


def token_expiry(created_at: datetime) -> datetime:
    """When an interaction token created at `created_at` stops working."""
    return created_at + TOKEN_LIFETIME


class InteractionRoutes:
    """In-memory job id → (interaction token, expiry); entries expire with their tokens."""

    def __init__(self) -> None:
        self._tokens: dict[int, tuple[str, datetime]] = {}

    @contextlib.contextmanager
    def pending(self, token: str, expires_at: datetime) -> Iterator[None]:
        """Offer `token` to the first job a delivery call sees while this block runs."""
        reset = _PENDING.set(_Pending(token, expires_at))
        try:
            yield
        finally:
            _PENDING.reset(reset)

    def remember(self, job_id: int, token: str, expires_at: datetime) -> None:
        now = datetime.now(UTC)
        for stale in [jid for jid, (_, exp) in self._tokens.items() if exp <= now]:
            del self._tokens[stale]
        self._tokens[job_id] = (token, expires_at)

    def forget(self, job_id: int) -> None:
        self._tokens.pop(job_id, None)

    def complete(self, route: JobRoute) -> JobRoute:
        """The route with its interaction token filled in when the adapter knows it."""
        if route.interaction_token is not None:
            return route
        known = self._tokens.get(route.job_id)
        if known is None:
            pending = _PENDING.get()
            if pending is not None and pending.job_id in (None, route.job_id):
                pending.job_id = route.job_id
                known = (pending.token, pending.expires_at)
                self._tokens[route.job_id] = known
        if known is None:
            return route
        return dataclasses.replace(route, interaction_token=known[0], token_expires_at=known[1])
