"""API tokens for scripts: each row holds the SHA-256 of a secret shown once, never the secret."""

from __future__ import annotations

import builtins
import sqlite3
from dataclasses import replace
from datetime import timedelta

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

    async def use(self, sha256: str, stale_after: timedelta = timedelta(0)) -> ApiToken | None:
        """The token with this digest, None when there is none; its `last_used_at` is set to now when older than
        `stale_after`, so a script's burst of requests writes once, not once a request."""
        row = await self._db.fetchone("SELECT * FROM api_tokens WHERE sha256 = ?", (sha256,))
        if row is None:
            return None
        token = _token(row)
        now = self._db.now()
        if token.last_used_at is not None and now - token.last_used_at <= stale_after:
            return token
        update = "UPDATE api_tokens SET last_used_at = ? WHERE id = ?"
        count, _ = await self._db.execute(update, (ts_to_db(now), token.id))
        return replace(token, last_used_at=now) if count == 1 else None  # None: revoked meanwhile

    async def list(self, user_id: int) -> builtins.list[ApiToken]:
        rows = await self._db.fetchall("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id", (user_id,))
        return [_token(row) for row in rows]

    async def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete one of the user's tokens; False when the user has no token of that id."""
        count, _ = await self._db.execute("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id))
        return count == 1
