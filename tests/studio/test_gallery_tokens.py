"""API tokens: shown once, stored as a digest, verified, listed and revoked by their owner only."""

from __future__ import annotations

import hashlib

import pytest

from storage import open_database
from studio.access.tokens import PREFIX, TokenService
from studio.errors import NotFound, Refused
from tests.storage.conftest import FakeClock
from tests.studio.gallery_seed import ALICE, BOB, GUILD


async def test_a_token_is_shown_once_and_only_its_digest_is_stored(services) -> None:
    made = await services.tokens.create(ALICE, "  my script ")
    assert made.secret.startswith(PREFIX) and len(made.secret) > 40
    assert made.info.name == "my script" and made.info.guild_id == GUILD and made.info.last_used_at is None
    assert made.secret not in repr(made)
    rows = await services.db.fetchall("SELECT * FROM api_tokens")
    stored = [str(value) for row in rows for value in tuple(row)]
    assert not any(made.secret in value or made.secret[len(PREFIX) :] in value for value in stored)
    assert hashlib.sha256(made.secret.encode()).hexdigest() in stored
    # The database file holds no trace of it either.
    raw = services.db.path.read_bytes() + services.db.path.with_name(services.db.path.name + "-wal").read_bytes()
    assert made.secret[len(PREFIX) :].encode() not in raw


async def test_verify_names_the_owner_and_notes_the_use(services) -> None:
    made = await services.tokens.create(ALICE, "script")
    owner = await services.tokens.verify(made.secret)
    assert owner is not None and (owner.user_id, owner.guild_id, owner.token_id) == (ALICE.user_id, GUILD, made.info.id)
    (listed,) = await services.tokens.list(ALICE)
    assert listed.last_used_at is not None
    assert await services.tokens.list(BOB) == ()


@pytest.mark.parametrize("wrong", ["", "nope", PREFIX, "x" * 500, PREFIX + "x" * 43])
async def test_a_wrong_token_is_refused(services, wrong: str) -> None:
    made = await services.tokens.create(ALICE, "script")
    assert await services.tokens.verify(wrong) is None
    assert await services.tokens.verify(made.secret[:-1]) is None
    assert await services.tokens.verify(made.secret.upper()) is None


async def test_a_revoked_token_is_refused_and_only_its_owner_revokes_it(services) -> None:
    made = await services.tokens.create(ALICE, "script")
    with pytest.raises(NotFound):
        await services.tokens.revoke(BOB, made.info.id)
    assert await services.tokens.verify(made.secret) is not None
    await services.tokens.revoke(ALICE, made.info.id)
    assert await services.tokens.verify(made.secret) is None
    assert await services.tokens.list(ALICE) == ()
    with pytest.raises(NotFound):
        await services.tokens.revoke(ALICE, made.info.id)


async def test_token_names_and_count_are_checked(services) -> None:
    with pytest.raises(Refused):
        await services.tokens.create(ALICE, "   ")
    for n in range(20):
        await services.tokens.create(ALICE, f"t{n}")
    with pytest.raises(Refused, match="revoke one"):
        await services.tokens.create(ALICE, "one more")
    assert len({t.id for t in await services.tokens.list(ALICE)}) == 20


async def test_a_burst_of_requests_notes_the_use_once_a_minute(tmp_path) -> None:
    """verify writes `last_used_at` only when the stored one is over a minute old: right to the minute, few writes."""
    clock = FakeClock()
    db = await open_database(tmp_path / "studio.db", clock=clock)
    try:
        tokens = TokenService(db)
        made = await tokens.create(ALICE, "script")
        stored = "SELECT last_used_at FROM api_tokens"
        await tokens.verify(made.secret)
        first = (await db.fetchone(stored))[0]
        for _ in range(3):
            clock.advance(seconds=19)
            assert await tokens.verify(made.secret) is not None
            assert (await db.fetchone(stored))[0] == first  # not written: the clock moved, the value did not
        clock.advance(seconds=4)  # 61 s after the first use
        owner = await tokens.verify(made.secret)
        assert owner is not None and (await db.fetchone(stored))[0] > first
        (listed,) = await tokens.list(ALICE)
        assert listed.last_used_at == clock.current
    finally:
        await db.close()
