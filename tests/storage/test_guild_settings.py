from __future__ import annotations

import dataclasses

import pytest

from storage import Database, GuildSettings


async def test_defaults_when_nothing_is_stored(db: Database) -> None:
    settings = await db.guild_settings.get(7)
    assert settings == GuildSettings()
    assert (settings.max_count, settings.max_steps, settings.max_size) == (8, 50, 1024)
    assert (settings.max_concurrent_per_user, settings.daily_quota) == (2, 100)
    assert (settings.allowed_role_ids, settings.blocked_words) == ((), ())
    assert (settings.nsfw_policy, settings.serve_dms) == ("block", False)
    assert await db.guild_settings.get(None) == GuildSettings()


async def test_update_keeps_other_fields_and_other_guilds(db: Database) -> None:
    first = await db.guild_settings.update(7, max_count=4, allowed_role_ids=[11, 12, 11], serve_dms=True)
    assert (first.max_count, first.allowed_role_ids, first.serve_dms) == (4, (11, 12), True)
    second = await db.guild_settings.update(7, blocked_words=["  Gore ", "gore", "", "Blood"], nsfw_policy="spoiler")
    assert second.max_count == 4
    assert second.blocked_words == ("gore", "blood")
    assert second.nsfw_policy == "spoiler"
    assert await db.guild_settings.get(7) == second
    assert await db.guild_settings.get(8) == GuildSettings()


async def test_only_changed_fields_are_stored(db: Database) -> None:
    await db.guild_settings.update(7, daily_quota=0)
    row = await db.fetchone("SELECT data FROM guild_settings WHERE guild_id = 7")
    assert row["data"] == '{"daily_quota":0}'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_cunt": 3}, "unknown setting 'max_cunt'"),
        ({"max_count": 0}, "between 1 and 8"),
        ({"max_count": 9}, "between 1 and 8"),
        ({"max_count": "4"}, "whole number"),
        ({"max_steps": True}, "whole number"),
        ({"max_size": 64}, "between 256 and 4096"),
        ({"daily_quota": -1}, "between 0"),
        ({"serve_dms": 1}, "true or false"),
        ({"nsfw_policy": "allow"}, "block, spoiler"),
        ({"allowed_role_ids": "123"}, "must be a list"),
        ({"allowed_role_ids": [0]}, "at least 1"),
        ({"blocked_words": [3]}, "must hold text"),
        ({"blocked_words": ["x" * 101]}, "at most 100 characters"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_written(db: Database, fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await db.guild_settings.update(7, **{"max_steps": 30, **fields})
    assert await db.guild_settings.get(7) == GuildSettings()


async def test_reset_some_or_all(db: Database) -> None:
    await db.guild_settings.update(7, max_count=2, max_steps=10, serve_dms=True)
    partly = await db.guild_settings.reset(7, "max_count")
    assert (partly.max_count, partly.max_steps, partly.serve_dms) == (8, 10, True)
    assert await db.guild_settings.reset(7) == GuildSettings()
    with pytest.raises(ValueError, match="unknown setting"):
        await db.guild_settings.reset(7, "nope")


async def test_stale_stored_values_fall_back_to_defaults(db: Database) -> None:
    # A field removed from the code, or a value a newer bound refuses, must not break reading.
    await db.execute(
        "INSERT INTO guild_settings (guild_id, data, updated_at) VALUES (7, ?, '2025-01-01T00:00:00+00:00')",
        ('{"old_field": 1, "max_count": 99, "max_steps": 20}',),
    )
    settings = await db.guild_settings.get(7)
    assert (settings.max_count, settings.max_steps) == (8, 20)


def test_every_field_has_a_validator() -> None:
    from storage.repos.guild_settings import validate_setting

    for field in dataclasses.fields(GuildSettings):
        default = getattr(GuildSettings(), field.name)
        assert validate_setting(field.name, default) == default
