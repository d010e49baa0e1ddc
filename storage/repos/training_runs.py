"""LoRA training runs, their checkpoints, and the 👍 votes on each checkpoint's samples."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from storage._codec import json_from_db, json_to_db, ts_from_db, ts_required, ts_to_db
from storage.records import TrainingCheckpoint, TrainingRun
from storage.repos._base import Repository


def _run(row: sqlite3.Row) -> TrainingRun:
    return TrainingRun(
        id=row["id"],
        guild_id=row["guild_id"],
        requester_id=row["requester_id"],
        set_id=row["set_id"],
        set_name=row["set_name"],
        output_name=row["output_name"],
        base_model=row["base_model"],
        trigger_word=row["trigger_word"],
        plan=json_from_db(row["plan"]),
        status=row["status"],
        job_id=row["job_id"],
        model_name=row["model_name"],
        chosen_step=row["chosen_step"],
        result=json_from_db(row["result"]),
        created_at=ts_required(row["created_at"]),
        finished_at=ts_from_db(row["finished_at"]),
    )


def _checkpoint(row: sqlite3.Row) -> TrainingCheckpoint:
    return TrainingCheckpoint(
        id=row["id"],
        run_id=row["run_id"],
        step=row["step"],
        lora_path=Path(row["lora_path"]),
        samples_path=Path(row["samples_path"]) if row["samples_path"] else None,
        loss=row["loss"],
        consistency=row["consistency"],
        likeness=row["likeness"],
        message_id=row["message_id"],
        votes=row["votes"],
    )


_CHECKPOINTS = """SELECT c.*, (SELECT COUNT(*) FROM checkpoint_votes v WHERE v.checkpoint_id = c.id) AS votes
                  FROM training_checkpoints c"""


class TrainingRunRepository(Repository):
    async def plan(
        self,
        *,
        guild_id: int | None,
        requester_id: int,
        set_id: int,
        set_name: str,
        output_name: str,
        base_model: str,
        trigger_word: str | None,
        plan: Mapping[str, Any],
    ) -> TrainingRun:
        _, run_id = await self._db.execute(
            """INSERT INTO training_runs (guild_id, requester_id, set_id, set_name, output_name, base_model,
                                          trigger_word, plan, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                guild_id or 0,
                requester_id,
                set_id,
                set_name,
                output_name,
                base_model,
                trigger_word,
                json_to_db(dict(plan)),
                ts_to_db(self._db.now()),
            ),
        )
        assert run_id is not None
        found = await self.get(run_id)
        assert found is not None
        return found

    async def get(self, run_id: int) -> TrainingRun | None:
        row = await self._db.fetchone("SELECT * FROM training_runs WHERE id = ?", (run_id,))
        return None if row is None else _run(row)

    async def for_job(self, job_id: int) -> TrainingRun | None:
        row = await self._db.fetchone("SELECT * FROM training_runs WHERE job_id = ?", (job_id,))
        return None if row is None else _run(row)

    async def started(self, run_id: int, job_id: int) -> bool:
        """Mark a planned run started as `job_id`; False when it was no longer planned (a second click)."""
        changed, _ = await self._db.execute(
            "UPDATE training_runs SET status = 'started', job_id = ? WHERE id = ? AND status = 'planned'",
            (job_id, run_id),
        )
        return changed > 0

    async def drop(self, run_id: int) -> bool:
        """A plan the member cancelled before starting it."""
        changed, _ = await self._db.execute(
            "UPDATE training_runs SET status = 'dropped' WHERE id = ? AND status = 'planned'", (run_id,)
        )
        return changed > 0

    async def finish(
        self, run_id: int, *, stopped: bool, result: Mapping[str, Any], model_name: str | None, chosen_step: int | None
    ) -> None:
        await self._db.execute(
            """UPDATE training_runs SET status = ?, result = ?, model_name = ?, chosen_step = ?, finished_at = ?
               WHERE id = ?""",
            (
                "stopped" if stopped else "done",
                json_to_db(dict(result)),
                model_name,
                chosen_step,
                ts_to_db(self._db.now()),
                run_id,
            ),
        )

    async def registered(self, run_id: int, model_name: str, chosen_step: int) -> None:
        await self._db.execute(
            "UPDATE training_runs SET model_name = ?, chosen_step = ? WHERE id = ?", (model_name, chosen_step, run_id)
        )

    async def list(self, guild_id: int | None, limit: int = 25) -> builtins.list[TrainingRun]:
        """A server's runs, newest first (planned ones that were never started left out)."""
        rows = await self._db.fetchall(
            """SELECT * FROM training_runs WHERE guild_id = ? AND status NOT IN ('planned', 'dropped')
               ORDER BY created_at DESC, id DESC LIMIT ?""",
            (guild_id or 0, limit),
        )
        return [_run(row) for row in rows]

    async def active_in(self, guild_id: int | None) -> builtins.list[TrainingRun]:
        """A server's runs whose job is queued or running."""
        rows = await self._db.fetchall(
            """SELECT r.* FROM training_runs r JOIN jobs j ON j.id = r.job_id
               WHERE r.guild_id = ? AND r.status = 'started' AND j.status IN ('queued', 'running')
               ORDER BY r.id""",
            (guild_id or 0,),
        )
        return [_run(row) for row in rows]

    async def measured(self, base_model: str, limit: int = 5) -> builtins.list[tuple[TrainingRun, float]]:
        """The newest runs on `base_model` that trained to an end, in any server, with their job's wall seconds."""
        rows = await self._db.fetchall(
            """SELECT r.*, j.started_at AS job_started, j.finished_at AS job_finished
               FROM training_runs r JOIN jobs j ON j.id = r.job_id
               WHERE r.base_model = ? AND r.status IN ('done', 'stopped') AND j.status = 'done'
                 AND j.started_at IS NOT NULL AND j.finished_at IS NOT NULL
               ORDER BY j.finished_at DESC, r.id DESC LIMIT ?""",
            (base_model, limit),
        )
        return [
            (_run(row), (ts_required(row["job_finished"]) - ts_required(row["job_started"])).total_seconds())
            for row in rows
        ]

    # -- the images a run trains on ---------------------------------------------------------------

    async def set_items(self, run_id: int, items: Sequence[tuple[str, str]]) -> None:
        """The run's images as (path, caption), in the order it trains on them; replaces any set before."""
        async with self._db.transaction():
            await self._db.execute("DELETE FROM training_run_items WHERE run_id = ?", (run_id,))
            for position, (path, caption) in enumerate(items):
                await self._db.execute(
                    "INSERT INTO training_run_items (run_id, position, path, caption) VALUES (?, ?, ?, ?)",
                    (run_id, position, path, caption),
                )

    async def items(self, run_id: int) -> builtins.list[tuple[str, str]]:
        """The run's images as (path, caption), in order; none before it starts and once it ended."""
        rows = await self._db.fetchall(
            "SELECT path, caption FROM training_run_items WHERE run_id = ? ORDER BY position", (run_id,)
        )
        return [(row["path"], row["caption"]) for row in rows]

    async def forget_items(self, run_id: int) -> None:
        """Drop the image paths and captions of an ended run (only a running one needs them)."""
        await self._db.execute("DELETE FROM training_run_items WHERE run_id = ?", (run_id,))

    # -- checkpoints and votes ---------------------------------------------------------------------

    async def set_checkpoints(self, run_id: int, checkpoints: Sequence[Mapping[str, Any]]) -> None:
        """Record a run's checkpoints (step, lora_path, samples_path, loss, consistency, likeness)."""
        async with self._db.transaction():
            for c in checkpoints:
                await self._db.execute(
                    """INSERT INTO training_checkpoints (run_id, step, lora_path, samples_path, loss, consistency,
                                                         likeness)
                       VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (run_id, step) DO UPDATE SET lora_path = excluded.lora_path,
                           samples_path = excluded.samples_path, loss = excluded.loss,
                           consistency = excluded.consistency, likeness = excluded.likeness""",
                    (
                        run_id,
                        c["step"],
                        str(c["lora_path"]),
                        str(c["samples_path"]) if c.get("samples_path") else None,
                        c.get("loss"),
                        c.get("consistency"),
                        c.get("likeness"),
                    ),
                )

    async def checkpoints(self, run_id: int) -> builtins.list[TrainingCheckpoint]:
        rows = await self._db.fetchall(f"{_CHECKPOINTS} WHERE c.run_id = ? ORDER BY c.step", (run_id,))
        return [_checkpoint(row) for row in rows]

    async def checkpoint_posted(self, checkpoint_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE training_checkpoints SET message_id = ? WHERE id = ?", (message_id, checkpoint_id)
        )

    async def checkpoint_for_message(self, message_id: int) -> TrainingCheckpoint | None:
        row = await self._db.fetchone(f"{_CHECKPOINTS} WHERE c.message_id = ?", (message_id,))
        return None if row is None else _checkpoint(row)

    async def vote(self, checkpoint_id: int, user_id: int, *, up: bool) -> None:
        if up:
            await self._db.execute(
                "INSERT OR IGNORE INTO checkpoint_votes (checkpoint_id, user_id) VALUES (?, ?)",
                (checkpoint_id, user_id),
            )
        else:
            await self._db.execute(
                "DELETE FROM checkpoint_votes WHERE checkpoint_id = ? AND user_id = ?", (checkpoint_id, user_id)
            )
