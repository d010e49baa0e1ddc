"""Names as people type them: kept for display, matched by a key, made safe for paths.

A model, LoRA, training set or auto-post keeps the name its author typed ("exactB", "café✨"). Two names
are the same name when their keys are equal: NFKC-normalised and case-folded, so "EXACTB" finds "exactB".
Files use `path_slug`: ASCII letters, digits and dashes, with a short hash of the key when the slug had to
drop or change characters, so "café✨" and "cafe" never share a file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_NAME = 64  # characters of a typed name
_SLUG_BODY = 40  # the readable part of a path slug; the hash suffix adds 7


class InvalidName(ValueError):
    """A name that cannot be kept as typed; the message says why and what to do."""


def name_key(name: str) -> str:
    """What two names are compared by: NFKC, case-folded, surrounding spaces dropped, inner runs made one."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def check_name(name: str, what: str = "name") -> str:
    """The name as typed (trimmed), or InvalidName saying why it cannot be kept."""
    if not isinstance(name, str):
        raise InvalidName(f"The {what} must be text.")
    kept = name.strip()
    if not kept:
        raise InvalidName(f"The {what} is empty: give at least one letter or digit.")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") or c in "\u2028\u2029" for c in kept):
        raise InvalidName(f"The {what} {kept!r} holds control or unassigned characters: type it without them.")
    if len(kept) > MAX_NAME:
        raise InvalidName(f"The {what} is {len(kept)} characters long: use at most {MAX_NAME}.")
    if not any(c.isalnum() for c in kept):
        raise InvalidName(f"The {what} {kept!r} has no letter or digit: add one.")
    return kept


def path_slug(name: str) -> str:
    """A file-system-safe form of `name`: itself when it already is a lower-case ASCII slug, else slug + hash."""
    key = name_key(name)
    ascii_text = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:_SLUG_BODY].strip("-")
    if slug == key and slug:
        return slug
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:6]
    return f"{slug}-{digest}" if slug else f"n-{digest}"


def legacy_slug(name: str) -> str:
    """The slug names were stored as before names were kept (lower-case ASCII runs joined by dashes, 48 at most).

    Rows from then are found by it, so "My LoRA", imported then as `my-lora`, still resolves.
    """
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:48].strip("-")
