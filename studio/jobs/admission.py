"""Who may queue what: the limits that apply to a caller, their access, and their load."""

from __future__ import annotations

from collections.abc import Callable

from storage import Database
from storage.records import GuildSettings, Job
from studio import policy
from studio.contract import SERVER_ACCOUNT, Caller
from studio.jobs.kind import JobKind

# The machine's owner at the command line: only the model's own bounds apply.
LOCAL_LIMITS = GuildSettings(max_steps=150, max_size=4096, max_concurrent_per_user=20, daily_quota=0)


def account_of(job: Job) -> int:
    """Whose usage a job counts as: the requester's, or the server's for a schedule (the row keeps the origin)."""
    return SERVER_ACCOUNT if job.origin == "schedule" else job.requester_id


class Admission:
    """The policy checks every kind shares; a kind adds its own (prompt, size) with `policy.check_request`."""

    def __init__(self, db: Database, kind_of: Callable[[str], JobKind | None]) -> None:
        self._db = db
        self._kind_of = kind_of

    async def limits(self, caller: Caller) -> GuildSettings:
        """The policy limits that apply to `caller`."""
        if caller.bypasses_server_policy:
            return LOCAL_LIMITS
        if caller.guild_id is None:
            return GuildSettings()
        return await self._db.guild_settings.get(caller.guild_id)

    async def check_access(self, caller: Caller) -> GuildSettings:
        """Role allowlist and DMs; returns the limits for the next checks."""
        limits = await self.limits(caller)
        policy.check_access(caller, limits)
        return limits

    def _limited(self, job: Job) -> bool:
        kind = self._kind_of(job.kind)
        return kind is None or kind.limited

    def _cost(self, job: Job) -> int:
        kind = self._kind_of(job.kind)
        if kind is None:
            return 0
        try:
            return kind.cost(kind.parse(job.request))
        except Exception:  # a row this version cannot read still counts as a job, not as images
            return 0

    async def check_load(self, caller: Caller, limits: GuildSettings, cost: int) -> None:
        """The caller's concurrent jobs and daily quota (call under the queue's submit lock)."""
        if caller.account is not None:
            return  # charged to the server (a schedule): the schedule's own interval bounds it
        active = [
            j for j in await self._db.jobs.list_for_user(caller.user_id, limit=100) if j.active and self._limited(j)
        ]
        if caller.guild_id is not None:
            active = [j for j in active if j.guild_id == caller.guild_id]
        pending = sum(self._cost(j) for j in active)
        today = await self._db.usage.images_on(caller.user_id, caller.guild_id)
        policy.check_load(limits, active_jobs=len(active), images_today=today, pending_images=pending, count=cost)
