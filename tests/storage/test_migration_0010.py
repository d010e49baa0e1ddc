"""0010 moves a run's images out of its plan JSON into `training_run_items`: every item in its order, the plan without
`items` and otherwise as it was, the rows gone with their run, and the schema equal to a fresh one's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from storage import open_database
from storage.migrate import load_migrations
from tests.storage.test_migration_0009 import _schema

NOW = "2026-01-01T00:00:00.000000+00:00"
ITEMS = [["/runs/1/data/001.png", "zz, a face"], ["/runs/1/data/002.jpg", "zz, a hat"], ["/runs/1/data/003.png", ""]]
PLAN = {
    "v": 1,
    "config": {"steps": 40, "sample_prompts": ["zz, a face"], "prior_prompts": []},
    "sources": {"steps": "you"},
    "images": 3,
    "samples": 40,
    "estimate_s": 95.0,
    "disk_bytes": 1000,
    "memory_gb": None,
    "budget_gb": None,
    "items": ITEMS,
    "lineage": {"set": "mila", "images": 3, "pickers": "7"},
    "requested_name": "mila",
    "model_name": "mila",
    "guess_s": 4.5,
}
RUN = (
    "INSERT INTO training_runs (id, set_name, output_name, base_model, plan, status, created_at)"
    " VALUES (?, 'mila', ?, 'tiny-sd', ?, ?, ?)"
)


def _build_at_9(path: Path) -> None:
    """A database at version 9: a started run whose plan holds its items, an ended one whose items were forgotten,
    a planned one that never had any, and one written with its keys in another order."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in load_migrations()[:9]:
            conn.executescript(f"BEGIN;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\nCOMMIT;")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(RUN, (1, "mila", json.dumps(PLAN), "started", NOW))
        conn.execute(RUN, (2, "mila-v2", json.dumps(PLAN | {"items": []}), "done", NOW))
        planned = {k: v for k, v in PLAN.items() if k != "items"}
        conn.execute(RUN, (3, "mila-v3", json.dumps(planned), "planned", NOW))
        conn.execute(RUN, (4, "other", json.dumps({"items": [ITEMS[1], ITEMS[0]], **planned}), "started", NOW))
    finally:
        conn.close()


def _plans(path: Path) -> dict[int, dict[str, object]]:
    conn = sqlite3.connect(path)
    try:
        return {row[0]: json.loads(row[1]) for row in conn.execute("SELECT id, plan FROM training_runs")}
    finally:
        conn.close()


async def test_the_items_move_to_their_table_in_order_and_leave_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    _build_at_9(path)
    before = _plans(path)
    db = await open_database(path)
    try:
        assert db.schema_version >= 10
        assert await db.training_runs.items(1) == [tuple(item) for item in ITEMS]
        assert await db.training_runs.items(4) == [tuple(ITEMS[1]), tuple(ITEMS[0])]  # the plan's order, not paths'
        assert await db.training_runs.items(2) == [] and await db.training_runs.items(3) == []
        rows = await db.fetchall("SELECT run_id, position FROM training_run_items ORDER BY run_id, position")
        assert [tuple(row) for row in rows] == [(1, 0), (1, 1), (1, 2), (4, 0), (4, 1)]
    finally:
        await db.close()
    after = _plans(path)
    assert all("items" not in plan for plan in after.values())
    # Every other key is as it was (the plan that had none is the same JSON).
    assert after == {run_id: {k: v for k, v in plan.items() if k != "items"} for run_id, plan in before.items()}


async def test_a_runs_items_go_with_it_and_when_it_forgets_them(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    _build_at_9(path)
    db = await open_database(path)
    try:
        await db.training_runs.forget_items(1)  # the run ended: its images are no longer needed
        assert await db.training_runs.items(1) == [] and len(await db.training_runs.items(4)) == 2
        await db.execute("DELETE FROM training_runs WHERE id = 4")
        assert (await db.fetchone("SELECT COUNT(*) FROM training_run_items"))[0] == 0
        await db.training_runs.set_items(3, [("/a.png", "a"), ("/b.png", "b")])
        await db.training_runs.set_items(3, [("/c.png", "c")])  # a start tried again: the new copies only
        assert await db.training_runs.items(3) == [("/c.png", "c")]
    finally:
        await db.close()


async def test_the_migrated_schema_equals_a_fresh_one(tmp_path: Path) -> None:
    migrated, fresh = tmp_path / "old.db", tmp_path / "new.db"
    _build_at_9(migrated)
    for path in (migrated, fresh):
        await (await open_database(path)).close()
    assert _schema(migrated) == _schema(fresh)
    assert "training_run_items" in {row[1] for row in _schema(fresh)}
