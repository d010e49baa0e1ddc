"""Who sees which image, and a gallery question turned into storage's query.

The rules (each tested in tests/studio/test_gallery_access.py):
- the machine's owner sees every image;
- a member sees the images they asked for, wherever they were made;
- a member sees another's image only when it was posted in their server, in a channel the adapter says they may view;
- another's adult (spoilered) image only when the adapter lets the viewer see adult images and the server's NSFW
  policy allows them (a server that now blocks adult prompts shows none of its old ones to others).
"""

from __future__ import annotations

from datetime import datetime

from storage import Database, GalleryImage, ImageQuery, Sight
from studio.errors import Refused
from studio.gallery.api import MAX_PAGE, MAX_SEARCH, ImageCard, ImageFilter, Viewer

MAX_TERMS = 12
_TRIGRAM = 3  # the FTS5 trigram tokenizer finds substrings of at least 3 characters; shorter words use LIKE


async def sight_of(db: Database, viewer: Viewer) -> Sight:
    """What `viewer` may see, in the form every gallery query applies."""
    caller = viewer.caller
    if caller.bypasses_server_policy:
        return Sight(user_id=caller.user_id, guild_id=caller.guild_id, everything=True)
    adult = False
    if caller.guild_id is not None and viewer.adult:
        adult = (await db.guild_settings.get(caller.guild_id)).nsfw_policy == "spoiler"
    return Sight(
        user_id=caller.user_id,
        guild_id=caller.guild_id,
        channel_ids=frozenset(viewer.channel_ids),
        others_spoilered=adult,
    )


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_terms(text: str | None) -> tuple[str | None, tuple[str, ...]]:
    """(an FTS5 query, LIKE patterns) that find prompts holding every word of `text` as a substring.

    Each word becomes an FTS5 string ("..." with inner quotes doubled), so quotes, brackets, `*`, `-`, AND, OR,
    NEAR and column filters are searched for as text, never parsed as query syntax.
    """
    if text is None or not text.strip():
        return None, ()
    if len(text) > MAX_SEARCH:
        raise Refused(f"The search is {len(text)} characters long: use at most {MAX_SEARCH}.")
    terms = list(dict.fromkeys(text.split()))
    if len(terms) > MAX_TERMS:
        raise Refused(f"The search has {len(terms)} words: use at most {MAX_TERMS}.")
    long = [t for t in terms if len(t) >= _TRIGRAM]
    match = " ".join('"' + t.replace('"', '""') + '"' for t in long) or None
    return match, tuple(_like(t) for t in terms if len(t) < _TRIGRAM)


def _aware(value: datetime | None, what: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise Refused(f"The {what} date needs a time zone (e.g. 2026-12-01T00:00:00+00:00).")


def image_query(filters: ImageFilter, collection_id: int | None) -> ImageQuery:
    """Storage's query for `filters`, one more than the page (to tell whether another page follows)."""
    _aware(filters.since, "from")
    _aware(filters.until, "to")
    if filters.since is not None and filters.until is not None and filters.since >= filters.until:
        raise Refused("The date range is empty: the start must be before the end.")
    if filters.scope not in ("mine", "server"):
        raise Refused("Show either your images ('mine') or this server's ('server').")
    match, like = search_terms(filters.text)
    limit = max(1, min(filters.limit, MAX_PAGE))
    return ImageQuery(
        scope=filters.scope,
        match=match,
        like=like,
        model=(filters.model or "").strip() or None,
        lora=(filters.lora or "").strip() or None,
        since=filters.since,
        until=filters.until,
        favourites=filters.favourites,
        collection_id=collection_id,
        before_id=filters.before_id,
        limit=limit + 1,
    )


def card(found: GalleryImage, viewer: Viewer) -> ImageCard:
    image = found.image
    return ImageCard(
        image_id=image.id,
        job_id=image.job_id,
        index=image.index,
        path=image.path,
        width=image.width,
        height=image.height,
        prompt=image.prompt,
        model=image.model,
        created_at=image.created_at,
        requester_id=found.requester_id,
        mine=found.requester_id == viewer.caller.user_id,
        spoiler=found.spoiler,
        favourite=found.favourite,
    )
