"""ETAs: each kind learns its own pace, so a long training run never skews a /generate estimate."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from storage.records import Job
from studio.jobs.kind import JobKind, KindStats

UNKNOWN_KIND_S = 5.0
_PARSED_KEPT = 4096  # requests kept parsed: a queue's worth, so a burst's ETAs do not re-parse every waiting job


class Estimates:
    """Seconds per unit of work, per kind, learnt from the jobs that finished since the start."""

    def __init__(self, kind_of: Callable[[str], JobKind | None]) -> None:
        self._kind_of = kind_of
        self._stats: dict[str, KindStats] = {}
        self._parsed: dict[int, object] = {}  # job id → its parsed request (a job's request never changes)

    def stats(self, kind: JobKind) -> KindStats:
        return self._stats.setdefault(kind.name, KindStats(kind.default_unit_s))

    def learn(self, kind: JobKind, request: object, elapsed_s: float, units: float | None = None) -> None:
        """`units`: the work this attempt did, when less than the request's (a resumed or stopped training)."""
        if units is not None and units <= 0:
            return  # nothing ran (stopped before its first step): no pace to learn
        self.stats(kind).learn(elapsed_s, kind.units(request) if units is None else units)

    def of(self, job: Job) -> float:
        """How long `job` should run once started."""
        kind = self._kind_of(job.kind)
        if kind is None:
            return UNKNOWN_KIND_S
        request = self._parsed.get(job.id)
        if request is None:
            try:
                request = kind.parse(job.request)
            except Exception:
                return self.stats(kind).per_unit_s
            if len(self._parsed) >= _PARSED_KEPT:
                self._parsed.pop(next(iter(self._parsed)))  # the oldest: ids grow, so it is the likeliest done
            self._parsed[job.id] = request
        return kind.estimate_s(request, self.stats(kind))

    def eta(self, ahead_and_self: Iterable[Job]) -> float:
        """Seconds until a job is done: the jobs before it in its lane, then itself."""
        return round(sum(self.of(job) for job in ahead_and_self), 1)

    def etas(self, lane: Iterable[Job]) -> list[float]:
        """Every job's `eta` in a lane's order, in one pass (a /queue of n jobs asks n of them: not n² `of`s)."""
        found: list[float] = []
        total = 0.0
        for job in lane:
            total += self.of(job)  # the same additions, in the same order, as `eta`'s sum: the same figures
            found.append(round(total, 1))
        return found
