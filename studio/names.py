"""Names people give models, LoRAs, training sets and auto-posts: kept as typed, refused in one line if they can't be.

The rules live in `storage.names` (storage finds rows by them and imports nothing of the project); this module is
the core's one naming module: it re-exports them, turns their ValueError into the error users see, and holds the
rules only the core applies (wildcard names). The engine keeps its own rule for peft adapter names
(`engine.diffusion.lora.adapter_slug`): it imports nothing outside itself.
"""

from __future__ import annotations

from storage.names import InvalidName, check_name, legacy_slug, name_key, path_slug
from studio.errors import Refused

__all__ = ["kept_name", "name_key", "path_slug", "same_name", "slugify", "wildcard_name"]


def kept_name(text: str, what: str = "name") -> str:
    """`text` trimmed, as it will be stored and shown; Refused says why a name cannot be kept."""
    try:
        return check_name(text, what)
    except InvalidName as exc:
        raise Refused(str(exc)) from None


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two names are the same name (case and Unicode forms aside)."""
    return a is not None and b is not None and name_key(a) == name_key(b)


def slugify(name: str) -> str:
    """A lower-case ASCII slug joined by dashes (`legacy_slug`'s rule); Refused when no letter or digit is left."""
    slug = legacy_slug(name)
    if not slug:
        raise Refused("Give a name with at least one letter or digit.")
    return slug


def wildcard_name(name: str) -> str:
    """A wildcard list's name as templates write it (`__my_list__`): the slug, joined by underscores."""
    return slugify(name).replace("-", "_")
