"""API tokens: Bearer secrets a member makes for their scripts; the secret is shown once, only its hash is kept."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import Authenticated, Bundle, Who
from web.gallery_schemas import NameIn, NewTokenOut, TokenOut
from web.schemas import Done

router = APIRouter(prefix="/api", tags=["tokens"], dependencies=Authenticated)


@router.get("/tokens", response_model=list[TokenOut])
async def tokens(bundle: Bundle, caller: Who) -> list[TokenOut]:
    """Your tokens (never their secrets)."""
    return [TokenOut.of(t) for t in await bundle.tokens.list(caller)]


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
async def create(body: NameIn, bundle: Bundle, caller: Who) -> NewTokenOut:
    """A new token acting as you in this server: copy `secret` now, it is not shown again."""
    made = await bundle.tokens.create(caller, body.name)
    return NewTokenOut(**TokenOut.of(made.info).model_dump(), secret=made.secret)


@router.delete("/tokens/{token_id}", response_model=Done)
async def revoke(token_id: int, bundle: Bundle, caller: Who) -> Done:
    await bundle.tokens.revoke(caller, token_id)
    return Done()
