"""When an auto-post is due: schedules as cron in a time zone, their words, and which slot to post at a time T.

Plain functions of their inputs (no clock of their own), so that tests drive them with any time. A schedule is a
five-field cron expression; the plain forms users may type ("every 6h", "daily 09:00", "mon,thu 18:30",
"weekdays 08:00") are written as cron first. APScheduler's CronTrigger computes the times (time zones and
daylight-saving changes included); cron-descriptor says them in words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from studio.errors import StudioError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_GRACE = timedelta(hours=1)
SAMPLED_RUNS = 60  # the shortest gap between runs is looked for among this many (covers weekly patterns)


class ScheduleError(StudioError):
    """A schedule that cannot be understood or is not allowed; the message says what to write instead."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC.") from None


def _clock(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if match is None:
        raise ScheduleError(f"{text!r} is not a time of day: write it as HH:MM, e.g. 09:00 or 18:30.")
    return int(match.group(1)), int(match.group(2))


def _every(amount: int, unit: str) -> str:
    if unit == "m":
        if amount < 1 or 60 % amount:
            raise ScheduleError("`every Nm` needs N to divide an hour (5, 10, 15, 20, 30); use cron for others.")
        return f"*/{amount} * * * *" if amount < 60 else "0 * * * *"
    if amount < 1 or 24 % amount:
        raise ScheduleError("`every Nh` needs N to divide a day (1, 2, 3, 4, 6, 8, 12, 24); use cron for others.")
    return "0 * * * *" if amount == 1 else f"0 */{amount} * * *" if amount < 24 else "0 0 * * *"


def to_cron(text: str) -> str:
    """A five-field cron expression from what a member typed (cron itself, or one of the plain forms)."""
    spoken = " ".join(text.lower().split())
    if match := re.fullmatch(r"every (\d+) ?(m|min|mins|minutes?|h|hours?)", spoken):
        return _every(int(match.group(1)), match.group(2)[0])
    if match := re.fullmatch(r"(daily|every day|weekdays|weekends) (\S+)", spoken):
        hour, minute = _clock(match.group(2))
        days = {"daily": "*", "every day": "*", "weekdays": "1-5", "weekends": "6,0"}[match.group(1)]
        return f"{minute} {hour} * * {days}"
    if match := re.fullmatch(r"([a-z]{3}(?:,[a-z]{3})*) (\S+)", spoken):
        names = match.group(1).split(",")
        unknown = [n for n in names if n not in DAYS]
        if unknown:
            raise ScheduleError(f"Unknown day {unknown[0]!r}: use mon, tue, wed, thu, fri, sat, sun.")
        hour, minute = _clock(match.group(2))
        # cron counts Sunday as 0 (APScheduler's from_crontab follows it).
        days = ",".join(str((DAYS.index(n) + 1) % 7) for n in names)
        return f"{minute} {hour} * * {days}"
    if len(spoken.split()) == 5:
        return spoken
    raise ScheduleError(
        f"Cannot read the schedule {text!r}. Write a cron expression (`0 9 * * *`) or a plain form: `every 6h`, "
        "`every 30m`, `daily 09:00`, `mon,thu 18:30`, `weekdays 08:00`."
    )


@dataclass(frozen=True)
class Timing:
    """A schedule: a cron expression read in a time zone."""

    cron: str
    tz: str

    @cached_property
    def trigger(self):  # type: ignore[no-untyped-def]  # apscheduler has no type hints
        from apscheduler.triggers.cron import CronTrigger

        try:
            return CronTrigger.from_crontab(self.cron, timezone=zone(self.tz))
        except ValueError as exc:
            raise ScheduleError(f"The cron expression {self.cron!r} is not valid ({exc}).") from None

    def words(self) -> str:
        """The schedule in words, as cron-descriptor says it (24-hour clock)."""
        from cron_descriptor import Options, get_description

        options = Options()
        options.use_24hour_time_format = True
        return str(get_description(self.cron, options))

    def after(self, moment: datetime, count: int = 3) -> list[datetime]:
        """The next `count` run times strictly after `moment`, in the schedule's time zone."""
        runs: list[datetime] = []
        for fire in self._fires(moment):
            if len(runs) == count:
                break
            runs.append(fire)
        return runs

    def _fires(self, start: datetime) -> Iterator[datetime]:
        """The run times strictly after `start`, in order, each strictly later than the one before."""
        # Each run is asked for from an instant in UTC, never from the run before: APScheduler 3.11 steps from a
        # previous run by its wall clock, which loses `fold` in the hour repeated when summer time ends and finds
        # the same run again, forever (agronholm/apscheduler#1021, #1036).
        now = start.astimezone(UTC) + timedelta(microseconds=1)
        while True:
            fire = self.trigger.get_next_fire_time(None, now)
            if fire is None:
                return
            if fire.astimezone(UTC) < now:  # never the same instant twice, whatever the trigger says
                raise ScheduleError(f"The schedule {self.cron!r} cannot be followed in {self.tz} around {fire}.")
            if not (self._fixed_hours and _second_pass(fire)):
                yield fire
            now = fire.astimezone(UTC) + timedelta(microseconds=1)

    @cached_property
    def _fixed_hours(self) -> bool:
        """Whether the schedule names its hours: then, as cron does, it runs once in an hour the clock repeats."""
        return self.cron.split()[1] != "*"

    def shortest_gap(self, moment: datetime) -> timedelta:
        """The shortest time between two runs from `moment` on (daylight-saving changes included)."""
        # In UTC: Python subtracts two times of one zone by their wall clocks (a 23-hour day would count 24).
        runs = [run.astimezone(UTC) for run in self.after(moment, SAMPLED_RUNS)]
        if len(runs) < 2:
            return timedelta.max
        return min(b - a for a, b in pairwise(runs))

    def grace(self, moment: datetime) -> timedelta:
        """How late a missed slot may still be posted: a quarter of the interval, at most an hour."""
        return min(self.shortest_gap(moment) / 4, MAX_GRACE)

    def slots_between(self, start: datetime, end: datetime) -> list[datetime]:
        """The run times in (start, end]."""
        found: list[datetime] = []
        for fire in self._fires(start):
            if fire > end:
                break
            found.append(fire)
        return found


def _second_pass(moment: datetime) -> bool:
    """Whether `moment` is the second time its wall clock reads so (the hour repeated when summer time ends)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def parse(text: str, tz: str, min_minutes: int, now: datetime) -> Timing:
    """The schedule a member typed, checked: valid, and no two runs closer than `min_minutes`."""
    timing = Timing(to_cron(text), tz)
    timing.trigger  # noqa: B018 - raises ScheduleError for an invalid expression
    gap = timing.shortest_gap(now)
    if gap < timedelta(minutes=min_minutes):
        raise ScheduleError(
            f"`{text}` runs every {int(gap.total_seconds() // 60)} minute(s) at its closest; this server allows "
            f"auto-posts at most every {min_minutes} minutes (setting autopost_min_minutes)."
        )
    return timing


@dataclass(frozen=True)
class Due:
    """What to do at a wake-up: post `slot` (None: nothing due), and the slots skipped as too late."""

    slot: datetime | None
    skipped: tuple[datetime, ...] = ()


def due(timing: Timing, last_slot: datetime | None, since: datetime, now: datetime) -> Due:
    """The slot to post at `now`, given the last slot posted (or, before the first, the time it was made).

    Only the newest slot that passed is ever posted, and only within the grace window: a bot that was down for a
    day posts once, not once per missed slot; older slots are skipped (and logged by the caller).
    """
    passed = timing.slots_between(last_slot or since, now)
    if not passed:
        return Due(None)
    newest = passed[-1]
    if now.astimezone(UTC) - newest.astimezone(UTC) <= timing.grace(newest):
        return Due(newest, tuple(passed[:-1]))
    return Due(None, tuple(passed))
