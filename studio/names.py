"""Names people give models, LoRAs, training sets and auto-posts: kept as typed, refused in one line if they can't be.

The rules live in `storage.names`; this module turns their ValueError into the error users see.
"""

from __future__ import annotations

from storage.names import InvalidName, check_name, name_key, path_slug
from studio.errors import Refused

__all__ = ["kept_name", "name_key", "path_slug", "same_name"]


def kept_name(text: str, what: str = "name") -> str:
    """`text` trimmed, as it will be stored and shown; Refused says why a name cannot be kept."""
    try:
        return check_name(text, what)
    except InvalidName as exc:
        raise Refused(str(exc)) from None


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two names are the same name (case and Unicode forms aside)."""
    return a is not None and b is not None and name_key(a) == name_key(b)
