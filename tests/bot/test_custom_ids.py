"""The custom_id grammar: round trips, Discord's length limit, garbage refused."""

from __future__ import annotations

import pytest

from bot.ui import custom_ids


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (custom_ids.upscale_id(42, 3), custom_ids.ParsedId("u", 42, 3)),
        (custom_ids.vary_id(42, 8, "subtle"), custom_ids.ParsedId("v", 42, 8, "subtle")),
        (custom_ids.vary_id(7, 1, "strong"), custom_ids.ParsedId("v", 7, 1, "strong")),
        *[(custom_ids.simple_id(a, 99), custom_ids.ParsedId(a, 99)) for a in ("reroll", "remix", "remixm", "del")],
        (custom_ids.simple_id("cancel", 5), custom_ids.ParsedId("cancel", 5)),
        (custom_ids.simple_id("qcancel", 5), custom_ids.ParsedId("qcancel", 5)),
    ],
)
def test_round_trip(built: str, expected: custom_ids.ParsedId) -> None:
    assert custom_ids.parse(built) == expected


def test_grammar_is_documented_shape() -> None:
    assert custom_ids.upscale_id(12, 2) == "studio:u:12:2"
    assert custom_ids.vary_id(12, 2, "strong") == "studio:v:12:2:x"
    assert custom_ids.simple_id("del", 12) == "studio:del:12"


def test_longest_ids_fit_discord_limit() -> None:
    biggest = 10**20 - 1
    for built in (
        custom_ids.upscale_id(biggest, 8),
        custom_ids.vary_id(biggest, 8, "strong"),
        custom_ids.simple_id("qcancel", biggest),
    ):
        assert len(built) <= custom_ids.MAX_CUSTOM_ID
        assert custom_ids.parse(built).job_id == biggest


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "studio",
        "studio:u:1",
        "studio:u:0:1",
        "studio:u:01:1",
        "studio:u:1:0",
        "studio:u:1:9",
        "studio:v:1:1:z",
        "studio:reroll:-3",
        "studio:reroll:3 ",
        "other:reroll:3",
        "studio:nuke:3",
        "studio:del:" + "9" * 120,
    ],
)
def test_garbage_refused(garbage: str) -> None:
    with pytest.raises(ValueError, match="custom_id"):
        custom_ids.parse(garbage)


@pytest.mark.parametrize(
    "build",
    [
        lambda: custom_ids.upscale_id(0, 1),
        lambda: custom_ids.upscale_id(1, 9),
        lambda: custom_ids.vary_id(1, 1, "wild"),  # type: ignore[arg-type]
        lambda: custom_ids.simple_id("u", 1),  # type: ignore[arg-type]
        lambda: custom_ids.simple_id("del", True),  # type: ignore[arg-type]
    ],
)
def test_builders_refuse_bad_fields(build) -> None:
    with pytest.raises(ValueError, match=r"must be|unknown"):
        build()
