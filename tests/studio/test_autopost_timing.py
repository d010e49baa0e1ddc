"""When auto-posts are due, in words and in time zones, and how their prompts vary: plain functions, any clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from studio.autopost.timing import ScheduleError, Timing, due, parse, to_cron, zone
from studio.autopost.wildcards import TemplateError, check_template, expand, parse_values, pick

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Europe's clocks go forward


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("0 9 * * *", "0 9 * * *"),
        ("every 6h", "0 */6 * * *"),
        ("every 30m", "*/30 * * * *"),
        ("Every 1 hour", "0 * * * *"),
        ("daily 09:00", "0 9 * * *"),
        ("mon,thu 18:30", "30 18 * * 1,4"),
        ("weekdays 08:00", "0 8 * * 1-5"),
        ("weekends 7:15", "15 7 * * 6,0"),
    ],
)
def test_every_plain_form_becomes_cron(text: str, cron: str) -> None:
    assert to_cron(text) == cron


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every 45m", "divide an hour"),
        ("every 5h", "divide a day"),
        ("daily 25:00", "not a time of day"),
        ("mon,fun 10:00", "Unknown day 'fun'"),
        ("whenever", "Cannot read the schedule"),
        ("61 9 * * *", "not valid"),
    ],
)
def test_what_cannot_be_read_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(text, "UTC", 15, NOW)


def test_words_and_the_next_runs_in_the_servers_time_zone() -> None:
    timing = parse("daily 09:00", "Europe/Paris", 15, NOW)
    assert timing.words() == "At 09:00"
    assert Timing("30 18 * * 1,4", "UTC").words() == "At 18:30, only on Monday and Thursday"
    runs = timing.after(NOW)
    assert [r.isoformat() for r in runs] == [
        "2026-03-28T09:00:00+01:00",
        "2026-03-29T09:00:00+02:00",  # summer time from that Sunday: still 09:00 on the wall clock
        "2026-03-30T09:00:00+02:00",
    ]
    # In UTC the post moves an hour earlier across the change: the gap is 23 hours once.
    assert runs[1].astimezone(UTC) - runs[0].astimezone(UTC) == timedelta(hours=23)
    assert timing.shortest_gap(NOW) == timedelta(hours=23)


def test_the_minimum_interval_is_the_servers() -> None:
    assert parse("every 15m", "UTC", 15, NOW).cron == "*/15 * * * *"
    with pytest.raises(ScheduleError, match="at most every 15 minutes"):
        parse("every 10m", "UTC", 15, NOW)
    with pytest.raises(ScheduleError, match="runs every 5 minute"):
        parse("0,5 9 * * *", "UTC", 15, NOW)  # twice a day, but 5 minutes apart


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ScheduleError, match="Unknown time zone 'Mars/Base'"):
        zone("Mars/Base")


def test_the_slot_due_at_a_time_and_a_missed_one_posted_once() -> None:
    timing = Timing("0 9 * * *", "UTC")
    made = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    assert due(timing, None, made, datetime(2026, 3, 20, 8, 59, tzinfo=UTC)).slot is None
    at_nine = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    assert due(timing, None, made, at_nine).slot == at_nine
    # Posted: the same wake-up again (a duplicate) finds nothing new.
    assert due(timing, at_nine, made, at_nine + timedelta(seconds=5)).slot is None
    # Down for three days, back 20 minutes after a slot: that one is posted, the others skipped, not replayed.
    back = datetime(2026, 3, 23, 9, 20, tzinfo=UTC)
    late = due(timing, at_nine, made, back)
    assert late.slot == datetime(2026, 3, 23, 9, 0, tzinfo=UTC) and len(late.skipped) == 2
    # Back two hours after it: past the grace window (an hour at most), nothing is posted.
    assert due(timing, at_nine, made, back + timedelta(hours=2)).slot is None


def test_the_grace_window_is_a_quarter_of_the_interval() -> None:
    half_hourly = Timing("*/30 * * * *", "UTC")
    slot = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    assert half_hourly.grace(slot) == timedelta(minutes=7, seconds=30)
    assert due(half_hourly, slot - timedelta(minutes=30), slot, slot + timedelta(minutes=7)).slot == slot
    assert due(half_hourly, slot - timedelta(minutes=30), slot, slot + timedelta(minutes=8)).slot is None


def test_wildcards_pick_one_option_each_and_named_lists() -> None:
    lists = {"place": ["gym", "café {at dawn|at night}"]}
    seen = Counter(pick("zzmila at the __place__, {smiling|serious}", lists, 100, seed).prompt for seed in range(400))
    assert set(seen) == {
        f"zzmila at the {place}, {mood}"
        for place in ("gym", "café at dawn", "café at night")
        for mood in ("smiling", "serious")
    }
    assert expand("a {b|c} d", {}, __import__("random").Random(1)) in {"a b d", "a c d"}
    assert pick("x {a|b}", {}, 100, 7) == pick("x {a|b}", {}, 100, 7)  # a slot's post is always the same


def test_the_lora_share_holds_over_many_posts() -> None:
    uses = sum(pick("p", {}, 80, seed).use_lora for seed in range(2000))
    assert 1520 <= uses <= 1680  # 80 % of 2000, within 4 standard deviations
    assert not any(pick("p", {}, 0, seed).use_lora for seed in range(200))
    assert all(pick("p", {}, 100, seed).use_lora for seed in range(200))


def test_templates_and_lists_are_checked() -> None:
    with pytest.raises(TemplateError, match="no such list"):
        check_template("at the __place__", {})
    with pytest.raises(TemplateError, match="empty choice"):
        check_template("a {b|}", {})
    check_template("at the __place__ {x|y}", {"place": ["gym"]})
    assert parse_values("gym, café,\nbeach, gym") == ("gym", "café", "beach")
    with pytest.raises(TemplateError, match="separated by commas"):
        parse_values(" , ")


def test_the_hour_repeated_when_summer_time_ends_is_followed_not_looped() -> None:
    # 25 October 2026, Paris: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice (an hour apart in UTC).
    hourly = Timing("30 * * * *", "Europe/Paris")
    night = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    slots = hourly.slots_between(night, night + timedelta(hours=5))
    assert [s.astimezone(UTC).hour for s in slots] == [22, 23, 0, 1, 2]
    assert [s.strftime("%H:%M%z") for s in slots[2:4]] == ["02:30+0200", "02:30+0100"]
    # Each of the two 02:30 slots is due once, in turn, and then nothing until 03:30.
    first, second = slots[2], slots[3]
    assert due(hourly, slots[1], night, first.astimezone(UTC) + timedelta(minutes=1)).slot == first
    assert due(hourly, first, night, second.astimezone(UTC) + timedelta(minutes=1)).slot == second
    assert due(hourly, second, night, second.astimezone(UTC) + timedelta(minutes=30)).slot is None
    assert hourly.shortest_gap(night) == timedelta(hours=1)
    # A schedule that names its hours runs once on that night, as cron does: a daily post is not made twice.
    daily = Timing("30 2 * * *", "Europe/Paris")
    runs = daily.after(night, 3)
    assert [(r.day, r.strftime("%H:%M%z")) for r in runs] == [
        (25, "02:30+0200"),
        (26, "02:30+0100"),
        (27, "02:30+0100"),
    ]
    assert due(daily, None, night, runs[0].astimezone(UTC) + timedelta(hours=1, minutes=5)).slot is None
