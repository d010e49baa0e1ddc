"""Names kept as typed: the key they are matched by, the slug files use, and the repositories that store them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Database, DuplicateError, open_database
from storage.migrate import load_migrations
from storage.names import InvalidName, check_name, legacy_slug, name_key, path_slug


def test_a_key_ignores_case_and_unicode_forms() -> None:
    assert name_key("exactB") == name_key("EXACTB") == "exactb"
    assert name_key("ﬁsh") == name_key("FISH")  # NFKC turns the ligature into letters
    assert name_key("  two   words ") == "two words"
    assert name_key("Straße") == name_key("STRASSE")


def test_a_path_slug_is_ascii_and_keeps_lossy_names_apart() -> None:
    assert path_slug("exactB") == path_slug("EXACTB") == "exactb"
    cafe = path_slug("café✨")
    assert cafe.isascii() and cafe.startswith("cafe-") and cafe != path_slug("cafe")
    assert path_slug("cafe") == "cafe"
    assert path_slug("✨✨") != path_slug("✨")
    assert path_slug(cafe) == cafe  # a slug is its own slug: old rows keep their files
    assert len(path_slug("x" * 64)) <= 48


# Files and rows written by earlier versions are found by these exact strings: a change of either rule orphans them.
# The expected values were written down from the rules as they stood when names were first kept as typed.
STORED = [
    # (typed name, path_slug: file names, legacy_slug: rows stored before names were kept as typed)
    ("exactB", "exactb", "exactb"),
    ("My LoRA", "my-lora-394832", "my-lora"),
    ("café✨", "cafe-0480c1", "caf"),
    ("✨", "n-c0cc70", ""),
    ("Ünïcode Style v2", "unicode-style-v2-be5efa", "n-code-style-v2"),
    ("../My Style!! v2", "my-style-v2-b56734", "my-style-v2"),
    ("x_y.z", "x-y-z-e28dc5", "x-y-z"),
    ("  spaced   name ", "spaced-name-ed829c", "spaced-name"),
    ("a" * 70, "a" * 40 + "-6bd5e5", "a" * 48),
]


@pytest.mark.parametrize(("name", "path", "legacy"), STORED)
def test_the_slug_rules_still_name_stored_data_as_before(name: str, path: str, legacy: str) -> None:
    assert (path_slug(name), legacy_slug(name)) == (path, legacy)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("   ", "empty"),
        ("bad\x00name", "control"),
        ("tab\there", "control"),
        ("x" * 65, "at most 64"),
        ("✨", "letter"),
    ],
)
def test_a_name_that_cannot_be_kept_is_refused_with_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        check_name(name)


def test_a_good_name_is_kept_as_typed_but_trimmed() -> None:
    assert check_name("  café✨ ") == "café✨"


async def test_a_model_is_found_by_any_case_of_its_typed_name(db: Database) -> None:
    await db.models.add(path_slug("exactB"), "exactB", "lora", "sd15", "/x", key="exactB")
    for asked in ("exactb", "exactB", "EXACTB"):
        found = await db.models.get(asked)
        assert found is not None and found.display_name == "exactB"
    assert await db.models.get("exacta") is None
    with pytest.raises(DuplicateError, match="already exists"):
        await db.models.add("other-slug", "ExactB", "lora", "sd15", "/y", key="ExactB")


async def test_a_training_set_keeps_its_typed_name_and_is_unique_by_key(db: Database) -> None:
    made = await db.training_sets.create("café✨", 7, 1)
    assert made.name == "café✨"
    found = await db.training_sets.get_by_name(7, "CAFÉ✨")
    assert found is not None and found.id == made.id
    assert await db.training_sets.get_by_name(8, "café✨") is None
    with pytest.raises(DuplicateError):
        await db.training_sets.create("Café✨", 7, 2)
    with pytest.raises(ValueError, match="empty"):
        await db.training_sets.create("  ", 7, 2)


async def test_a_schedule_name_is_kept_and_a_rename_moves_its_key(db: Database) -> None:
    first = await db.schedules.create("Morning Fox", 7, 1, "0 9 * * *", "a fox", 1)
    assert first.name == "Morning Fox"
    with pytest.raises(DuplicateError):
        await db.schedules.create("morning fox", 7, 1, "0 9 * * *", "a fox", 1)
    await db.schedules.update(first.id, name="Evening Fox")
    again = await db.schedules.create("MORNING FOX", 7, 1, "0 9 * * *", "a fox", 1)  # the old key is free
    assert again.name == "MORNING FOX"
    with pytest.raises(DuplicateError):
        await db.schedules.update(again.id, name="evening fox")


async def test_the_migration_gives_old_rows_their_key(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = [m for m in load_migrations() if m.name != "0007_name_keys.sql" and m.version < 7]
    for migration in before:
        conn.executescript(f"BEGIN;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\nCOMMIT;")
    now = "2025-01-01T00:00:00.000000+00:00"
    conn.execute(
        "INSERT INTO models (name, display_name, kind, family, source, created_at)"
        " VALUES ('old-lora', 'Old LoRA', 'lora', 'sd15', '/loras/old-lora.safetensors', ?)",
        (now,),
    )
    conn.execute("INSERT INTO training_sets (name, guild_id, owner_id, created_at) VALUES ('old-set', 7, 1, ?)", (now,))
    conn.close()
    db = await open_database(path)
    try:
        model = await db.models.get("OLD-LORA")
        assert model is not None and model.name == "old-lora" and model.display_name == "Old LoRA"
        found = await db.training_sets.get_by_name(7, "Old-Set")
        assert found is not None and found.name == "old-set"
    finally:
        await db.close()


async def test_a_model_stored_before_names_were_kept_is_found_by_its_typed_name(db: Database) -> None:
    await db.models.add("my-lora", "My LoRA", "lora", "sd15", "/x")  # as the old import stored it
    found = await db.models.get("My LoRA")
    assert found is not None and found.name == "my-lora"
