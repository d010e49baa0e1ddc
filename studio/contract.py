"""What every front door and the services agree on: who asks, where a job's messages go, and the port that shows them.

The services never import an adapter. Each adapter (the Discord bot, the command line) builds a `Caller` for
whoever asks, and implements `DeliveryPort` to put job progress and results in front of its users; what it
shows (`Deliverable`) is plain data from a feature, rendered by the adapter by type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

# Where a request comes from: a member's slash command or button, the `studio` command line on the
# bot's own machine, a schedule firing, or the web studio (its pages and API). It decides where the job's
# messages go and how they read (a schedule's post mentions nobody), never what the caller may do: that is
# the caller's capabilities.
Origin = Literal["interaction", "cli", "schedule", "web"]
# The account a schedule's jobs count against: its server's, not a member's.
SERVER_ACCOUNT = 0


@dataclass(frozen=True)
class Caller:
    """Who asks, and where, with what they may do: enough for every policy check.

    The adapter that builds a caller computes its capabilities (the Discord adapter from the member's permissions
    in that server, the command line as the machine's owner); the services read them, never the origin.
    """

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    role_ids: tuple[int, ...] = ()
    may_moderate: bool = False  # act on other members' jobs and set images (Discord: Manage Messages or Server)
    may_manage_server: bool = False  # settings, auto-posts, training, others' sets (Discord: Manage Server)
    # The machine's owner: held to no server's limits, role lists or DM rule, and sees every server's runs.
    bypasses_server_policy: bool = False
    # Whose usage the request counts against when not the user's own (a schedule's: SERVER_ACCOUNT). Such a request
    # is held to neither a member's role lists nor a member's load limits.
    account: int | None = None
    origin: Origin = "interaction"
    # The interaction that asked, when there is one: its token lets delivery edit the reply for 15 minutes.
    interaction_token: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    token_expires_at: datetime | None = None


@dataclass(frozen=True)
class JobTicket:
    """A job accepted into the queue."""

    job_id: int
    position: int  # 0 = running or next
    eta_s: float | None


@dataclass(frozen=True)
class BatchTickets:
    """Jobs started together (e.g. "generate all"); `refused` says why the rest did not start."""

    tickets: tuple[JobTicket, ...]
    refused: str | None = None


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    eta_s: float | None
    label: str = "Generating"  # what the job's kind is doing: "Generating", "Describing", "Training", ...
    detail: str | None = None  # what the step says besides its number: "loss 0.123, 2.1 samples/s"
    image: Path | None = None  # a picture of the work so far (a training's newest sample grid)


@dataclass(frozen=True)
class JobRoute:
    """Where a job's messages go. Built from the job's row, so it survives a restart."""

    job_id: int
    requester_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None  # the message that shows the job (status, then result), once known
    interaction_token: str | None = field(repr=False)  # a secret, valid until token_expires_at (15 minutes)
    token_expires_at: datetime | None
    origin: Origin = "interaction"

    @property
    def mention(self) -> bool:
        """Whether a new channel message may ping the requester (a schedule's post pings nobody)."""
        return self.origin == "interaction"


class Deliverable:
    """What `DeliveryPort.delivered` and `posted` show: a feature's plain result (images, a trained LoRA's card, a
    checkpoint's grid), which each adapter renders by its type. Results subclass it; the contract names none."""

    __slots__ = ()


@dataclass(frozen=True)
class SchedulePaused:
    """A schedule that stopped posting by itself (its model is gone, its channel closed): its server hears it once.

    Routed like a job, by `origin` (a schedule's posts and notices go to the port of the "schedule" origin).
    """

    schedule_id: int
    name: str
    reason: str  # what went wrong, in words: "its model is gone (...)"
    guild_id: int | None
    channel_ids: tuple[int, ...]  # where to say it, in order: where the schedule was made, where it posts
    origin: Origin = "schedule"


class Unreachable(Exception):
    """Raised by a port's method when the route's channel will not take messages until someone acts there
    (deleted, closed to the adapter). The queue reports it to the core (a schedule posting there pauses)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "its channel <#12> was deleted": how the port's users name the channel


class DeliveryPort(Protocol):
    """Implemented once per front door (the Discord adapter, the CLI) to show every job's life to its requester.

    Each adapter registers its port for the origins it shows (`studio.jobs.router.DeliveryRouter`). One instance
    serves all jobs: everything it needs is in the route, so jobs recovered after a restart are delivered the same
    way. A method that returns a message id lets the service remember which message shows the job (buttons and
    reactions are found through it). Any method may raise `Unreachable`.
    """

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None: ...

    async def progress(self, route: JobRoute, progress: Progress) -> None: ...

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None: ...

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        """Show one more message for the job in its channel (a checkpoint's grid, say); returns its id."""
        ...

    async def failed(self, route: JobRoute, message: str) -> None: ...

    async def cancelled(self, route: JobRoute) -> None: ...

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        """Tell the schedule's server it stopped posting, why, and how to start it again."""
        ...
