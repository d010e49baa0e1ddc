"""What a kind of job declares, so that the queue can run it without knowing what it is.

A new capability (training, character sheets, auto-posts) is a new `JobKind` in its own module,
registered with the queue by the container: the queue, admission and delivery stay as they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from engine import Lane, WorkOrder
from storage.records import Job
from studio.contract import Deliverable
from studio.errors import StudioError

# After a crash or a lost worker: run the job again from the start (`requeue`), give up (`fail`:
# nobody waits for the answer any more), or run it again from its last checkpoint (`resume`).
Retry = Literal["requeue", "fail", "resume"]

R = TypeVar("R")


class RequestVersionError(StudioError):
    """A stored request was written by a newer version of the bot."""


def check_version(data: Mapping[str, Any], current: int, what: str) -> int:
    """The version a stored request was written with (0: before requests had one); refuses newer ones."""
    version = int(data.get("v", 0))
    if version > current:
        raise RequestVersionError(
            f"This {what} was made by a newer version of the bot (request v{version}); update the bot to run it."
        )
    return version


@dataclass(frozen=True)
class Completion:
    """What a kind hands back to the queue once it has stored a job's outcome."""

    result: Mapping[str, Any]  # the typed outcome as stored in the job's `result`
    deliverable: Deliverable | None = None  # what the DeliveryPort shows (images, a training's card); None: nothing
    charge: int = 0  # images counted against quotas
    posted_images: tuple[int, ...] = ()  # the image ids the delivered message shows, in order
    post_role: str = "grid"  # grid, single, sheet, autopost
    # Further messages after the result (a training's checkpoint grids), and what to do with their ids.
    extras: tuple[Deliverable, ...] = ()
    units_done: float | None = None  # the work this attempt did, for the pace, when less than the request's
    on_posted: Callable[[list[int | None]], Awaitable[None]] | None = None


@dataclass
class KindStats:
    """A kind's learnt pace: seconds per unit of work (an image, a training step ...)."""

    per_unit_s: float
    samples: int = field(default=0)

    def learn(self, elapsed_s: float, units: float) -> None:
        pace = elapsed_s / max(units, 1e-9)
        self.per_unit_s = pace if self.samples == 0 else 0.7 * self.per_unit_s + 0.3 * pace
        self.samples += 1


class JobKind(ABC, Generic[R]):
    """One kind of job: how its request is parsed and shown, what it costs, where and how it runs.

    Subclasses set the class attributes and implement the abstract methods. `R` is the kind's frozen
    request dataclass, stored as JSON with a version (`dump` / `parse`).
    """

    name: str
    label: str = "Working"  # progress text: "Generating", "Describing", "Training"
    lane: Lane = "interactive"
    retry: Retry = "requeue"
    answered_inline: bool = False  # the caller awaits the answer (no delivery); gone after a restart
    shown: bool = True  # the delivery port shows the job's life (queued, progress, result, failure)
    limited: bool = True  # counts toward a member's concurrent jobs (background work such as captions does not)

    @property
    def silent(self) -> bool:
        """Nothing of the job is shown: an answer awaited inline, or background work."""
        return self.answered_inline or not self.shown

    default_unit_s: float = 2.0  # the ETA per unit before any job of the kind has been measured

    # -- the request ----------------------------------------------------------------------------

    @abstractmethod
    def parse(self, data: Mapping[str, Any]) -> R:
        """The typed request from its stored JSON (RequestVersionError for a newer version)."""

    @abstractmethod
    def dump(self, request: R) -> dict[str, Any]:
        """The request as stored JSON, with its version."""

    @abstractmethod
    def summary(self, request: R) -> str:
        """One line for /queue: the prompt, the set's name, ..."""

    def cost(self, request: R) -> int:
        """Images this job will count against the user's quotas."""
        return 0

    def units(self, request: R) -> float:
        """How much work the job is, in the unit its pace is learnt in (images by default)."""
        return float(max(1, self.cost(request)))

    def estimate_s(self, request: R, stats: KindStats) -> float:
        """Seconds this job should take once started."""
        return stats.per_unit_s * self.units(request)

    def input_files(self, request: R) -> Iterable[tuple[Path, str]]:
        """(path, role) of the files the job reads, recorded when it is queued."""
        return ()

    # -- running ----------------------------------------------------------------------------------

    @abstractmethod
    async def order(self, job: Job, request: R) -> WorkOrder:
        """The work order for the engine (plain data); StudioError when the job can no longer run."""

    async def progressed(
        self, job: Job, request: R, step: int, total: int, detail: str | None, image: str | None
    ) -> None:
        """Told of each step the engine reports, before it is shown (a training keeps a journal of them)."""

    @abstractmethod
    async def complete(self, job: Job, request: R, outcome: Any) -> Completion:
        """Store the outcome (rows, files) and say what to deliver; StudioError fails the job."""
