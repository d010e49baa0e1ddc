"""API tokens for scripts: each row holds the SHA-256 of a secret shown once, never the secret."""

from __future__ import annotations

import builtins
import sqlite3

from storage._codec import ts_from_db, ts_required, ts_to_db
from storage.records import ApiToken
from storage.repos._base import Repository, integrity_error


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        name=row["name"],
        created_at=ts_required(row["created_at"]),
        last_used_at=ts_from_db(row["last_used_at"]),
    )


class ApiTokenRepository(Repository):
    async def add(self, user_id: int, guild_id: int | None, name: str, sha256: str) -> ApiToken:
        """Store a token by its digest (hex). DuplicateError for a digest already stored."""
        try:
            _, token_id = await self._db.execute(
                "INSERT INTO api_tokens (user_id, guild_id, name, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_id, guild_id, name, sha256, ts_to_db(self._db.now())),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(exc, duplicate="that token exists", missing="") from exc
        assert token_id is not None
        row = await self._db.fetchone("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
        assert row is not None
        return _token(row)

    async def use(self, sha256: str) -> ApiToken | None:
        """The token with this digest, its `last_used_at` set to now; None when there is none."""
        now = ts_to_db(self._db.now())
        async with self._db.transaction():
            count, _ = await self._db.execute("UPDATE api_tokens SET last_used_at = ? WHERE sha256 = ?", (now, sha256))
            if count != 1:
                return None
            row = await self._db.fetchone("SELECT * FROM api_tokens WHERE sha256 = ?", (sha256,))
        return None if row is None else _token(row)

    async def list(self, user_id: int) -> builtins.list[ApiToken]:
        rows = await self._db.fetchall("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id", (user_id,))
        return [_token(row) for row in rows]

    async def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete one of the user's tokens; False when the user has no token of that id."""
        count, _ = await self._db.execute("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id))
        return count == 1
