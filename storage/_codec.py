"""Conversions between Python values and the text stored in SQLite columns."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def ts_to_db(value: datetime | None) -> str | None:
    """Aware datetime → ISO text in UTC with a fixed width, so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def ts_from_db(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # written by hand or by another tool: assume UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ts_required(value: str) -> datetime:
    parsed = ts_from_db(value)
    assert parsed is not None
    return parsed


def day_to_db(value: date) -> str:
    if isinstance(value, datetime):
        raise TypeError("pass a date, not a datetime (days are UTC calendar days)")
    return value.isoformat()


def json_to_db(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def json_from_db(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def loras_to_db(loras: Iterable[tuple[str, float]]) -> str:
    return json_to_db([[str(name), float(scale)] for name, scale in loras])


def loras_from_db(value: str) -> tuple[tuple[str, float], ...]:
    return tuple((str(name), float(scale)) for name, scale in json.loads(value))
