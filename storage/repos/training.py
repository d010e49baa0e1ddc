"""Training sets (named per guild) and their items: image files with captions."""

from __future__ import annotations

import builtins
import sqlite3
from pathlib import Path

from storage._codec import ts_required, ts_to_db
from storage.errors import DuplicateError, NotFoundError
from storage.names import check_name, name_key
from storage.records import ItemSource, TrainingItem, TrainingSet
from storage.repos._base import Repository, integrity_error


def training_set_from_row(row: sqlite3.Row) -> TrainingSet:
    return TrainingSet(
        id=row["id"],
        name=row["name"],
        guild_id=row["guild_id"],
        owner_id=row["owner_id"],
        trigger_word=row["trigger_word"],
        base_model=row["base_model"],
        created_at=ts_required(row["created_at"]),
        locked=bool(row["locked"]),
    )


def _item(row: sqlite3.Row) -> TrainingItem:
    return TrainingItem(
        id=row["id"],
        set_id=row["set_id"],
        image_id=row["image_id"],
        path=Path(row["path"]),
        caption=row["caption"],
        added_by=row["added_by"],
        created_at=ts_required(row["created_at"]),
        source=row["source"],
        caption_source=row["caption_source"],
        message_id=row["message_id"],
        emoji=row["emoji"],
    )


class TrainingSetRepository(Repository):
    async def create(
        self,
        name: str,
        guild_id: int | None,
        owner_id: int,
        trigger_word: str | None = None,
        base_model: str | None = None,
    ) -> TrainingSet:
        """A new, empty set; the name is kept as typed and unique per guild by its key (storage.names)."""
        name = check_name(name, "training set name")
        try:
            _, set_id = await self._db.execute(
                """INSERT INTO training_sets (name, guild_id, owner_id, trigger_word, base_model, created_at, name_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (name, guild_id, owner_id, trigger_word, base_model, ts_to_db(self._db.now()), name_key(name)),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate=f"a training set named {name!r} already exists here: pick another name", missing=name
            ) from exc
        assert set_id is not None
        created = await self.get(set_id)
        assert created is not None
        return created

    async def get(self, set_id: int) -> TrainingSet | None:
        row = await self._db.fetchone("SELECT * FROM training_sets WHERE id = ?", (set_id,))
        return None if row is None else training_set_from_row(row)

    async def get_by_name(self, guild_id: int | None, name: str) -> TrainingSet | None:
        """The set whose name matches `name` case-insensitively (by key)."""
        row = await self._db.fetchone(
            "SELECT * FROM training_sets WHERE IFNULL(guild_id, 0) = IFNULL(?, 0) AND name_key = ?",
            (guild_id, name_key(name)),
        )
        return None if row is None else training_set_from_row(row)

    async def list(self, guild_id: int | None) -> builtins.list[TrainingSet]:
        """The sets of one guild (None: direct messages), by name."""
        rows = await self._db.fetchall(
            "SELECT * FROM training_sets WHERE IFNULL(guild_id, 0) = IFNULL(?, 0) ORDER BY name", (guild_id,)
        )
        return [training_set_from_row(row) for row in rows]

    async def delete(self, set_id: int) -> bool:
        """Delete a set and its items (the caller removes their files)."""
        changed, _ = await self._db.execute("DELETE FROM training_sets WHERE id = ?", (set_id,))
        return changed > 0

    async def add_item(
        self,
        set_id: int,
        path: Path | str,
        added_by: int,
        image_id: int | None = None,
        caption: str | None = None,
        *,
        source: ItemSource = "upload",
        message_id: int | None = None,
        emoji: str | None = None,
    ) -> TrainingItem | None:
        """Add an image file to a set; None when that image (or path) is already in the set."""
        try:
            changed, item_id = await self._db.execute(
                """INSERT OR IGNORE INTO training_items
                       (set_id, image_id, path, caption, added_by, created_at, source, message_id, emoji)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (set_id, image_id, str(path), caption, added_by, ts_to_db(self._db.now()), source, message_id, emoji),
            )
        except sqlite3.IntegrityError as exc:
            error = integrity_error(
                exc, duplicate="", missing=f"training set {set_id} or image {image_id} does not exist"
            )
            if isinstance(error, DuplicateError):  # pragma: no cover - OR IGNORE absorbs these
                return None
            raise error from exc
        if not changed or item_id is None:
            return None
        return await self.item(item_id)

    async def item(self, item_id: int) -> TrainingItem | None:
        row = await self._db.fetchone("SELECT * FROM training_items WHERE id = ?", (item_id,))
        return None if row is None else _item(row)

    async def remove_item(self, item_id: int) -> bool:
        changed, _ = await self._db.execute("DELETE FROM training_items WHERE id = ?", (item_id,))
        return changed > 0

    async def set_caption(self, item_id: int, caption: str | None, source: str = "user") -> None:
        """A member's caption (kept from then on), or the captioner's (`source="auto"`)."""
        changed, _ = await self._db.execute(
            "UPDATE training_items SET caption = ?, caption_source = ? WHERE id = ?", (caption, source, item_id)
        )
        if not changed:
            raise NotFoundError(f"training item {item_id} does not exist")

    async def set_auto_caption(self, item_id: int, caption: str) -> bool:
        """The captioner's caption, unless a member wrote one meanwhile; False when it was not written."""
        changed, _ = await self._db.execute(
            "UPDATE training_items SET caption = ? WHERE id = ? AND caption_source = 'auto'", (caption, item_id)
        )
        return changed > 0

    async def items(self, set_id: int) -> builtins.list[TrainingItem]:
        """A set's items in the order they were added: item n of a set is number n in its listings."""
        rows = await self._db.fetchall("SELECT * FROM training_items WHERE set_id = ? ORDER BY id", (set_id,))
        return [_item(row) for row in rows]

    async def items_from_reaction(self, message_id: int, emoji: str, user_id: int) -> builtins.list[TrainingItem]:
        """The items `user_id` added by reacting `emoji` on `message_id` (in any of the sets)."""
        rows = await self._db.fetchall(
            "SELECT * FROM training_items WHERE message_id = ? AND emoji = ? AND added_by = ? ORDER BY id",
            (message_id, emoji, user_id),
        )
        return [_item(row) for row in rows]

    async def uses_of_path(self, path: Path | str) -> int:
        """How many items name this file (a file shared by items stays until the last one goes)."""
        row = await self._db.fetchone("SELECT COUNT(*) FROM training_items WHERE path = ?", (str(path),))
        return int(row[0]) if row else 0

    async def set_locked(self, set_id: int, locked: bool) -> None:
        changed, _ = await self._db.execute("UPDATE training_sets SET locked = ? WHERE id = ?", (int(locked), set_id))
        if not changed:
            raise NotFoundError(f"training set {set_id} does not exist")

    async def active(self, guild_id: int | None, user_id: int) -> TrainingSet | None:
        """The set a member's reactions feed in this guild."""
        row = await self._db.fetchone(
            """SELECT training_sets.* FROM active_training_sets JOIN training_sets ON training_sets.id = set_id
               WHERE active_training_sets.guild_id = IFNULL(?, 0) AND user_id = ?""",
            (guild_id, user_id),
        )
        return None if row is None else training_set_from_row(row)

    async def set_active(self, guild_id: int | None, user_id: int, set_id: int) -> None:
        await self._db.execute(
            """INSERT INTO active_training_sets (guild_id, user_id, set_id) VALUES (IFNULL(?, 0), ?, ?)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET set_id = excluded.set_id""",
            (guild_id, user_id, set_id),
        )

    async def active_users(self, set_id: int) -> builtins.list[int]:
        """The members whose active set this is."""
        rows = await self._db.fetchall(
            "SELECT user_id FROM active_training_sets WHERE set_id = ? ORDER BY user_id", (set_id,)
        )
        return [row["user_id"] for row in rows]
