"""One generation's settings, as a single type every layer carries whole (no torch here).

`GenerationParams` holds what a user may set about a generation: the negative prompt, count, seed, size, steps,
guidance, sampler, strength, and the family's own settings (`extras`). A draft leaves any of them None ("the
model's default"); `engine.catalog.resolve` makes them concrete. The core's draft, stored request and the engine's
request and result are this type plus their own fields (subclasses), so a new setting is one field here, its check
in `resolve` and its use in the family: the layers between pass the settings on without naming them.

A setting only one family has is an `ExtraSetting` the family declares; `extras` carries its values by name, and
`check_extras` validates them against the family's declarations (a family that does not declare a name refuses it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from engine.errors import InvalidRequest

Extra = bool | int | float | str


@dataclass(frozen=True, kw_only=True)
class GenerationParams:
    """The settings of one generation; None means "the model's default" until `resolve` fills it."""

    negative: str = ""
    count: int | None = None
    seed: int | None = None
    aspect: str | None = None  # a named size (ASPECTS); resolve turns it into width and height
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    strength: float | None = None  # img2img and inpaint only
    extras: Mapping[str, Extra] = field(default_factory=dict)  # the family's own settings (never mutated)

    def settings(self) -> dict[str, Any]:
        """The settings alone, by name: what passes from one layer's type to the next (`Next(**p.settings(), …)`)."""
        return {f.name: getattr(self, f.name) for f in fields(GenerationParams)}


@dataclass(frozen=True)
class ExtraSetting:
    """A setting one family takes besides the common ones: its name, type, bounds and what it does."""

    name: str  # as users type it: `clip_skip=2`
    kind: type[bool] | type[int] | type[float] | type[str]
    help: str  # one line for /models and the CLI's help
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    a1111: str | None = None  # its name in A1111's parameters text (PNG metadata), where A1111 has it

    def describe(self) -> str:
        """One line for /models and `studio models list`: `clip_skip` (a whole number from 1 to 4): what it does."""
        return f"{self.name} ({self.bounds()}): {self.help}"

    def check(self, value: object) -> Extra:
        """`value` as this setting's type (text from a command line converts), or a one-line InvalidRequest."""
        converted = self._convert(value)
        if isinstance(converted, int | float) and not isinstance(converted, bool) and not self._within(converted):
            raise InvalidRequest(f"{self.name} must be {self.bounds()} (got {value}).")
        if self.choices and converted not in self.choices:
            raise InvalidRequest(f"{self.name} must be one of {', '.join(self.choices)} (got {value}).")
        return converted

    def _within(self, number: float) -> bool:
        low_ok = self.low is None or number >= self.low
        return math.isfinite(number) and low_ok and (self.high is None or number <= self.high)

    def bounds(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        noun = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[self.kind]
        if self.low is not None and self.high is not None:
            return f"{noun} from {self.low:g} to {self.high:g}"
        return noun

    def _convert(self, value: object) -> Extra:
        wrong = InvalidRequest(f"{self.name} must be {self.bounds()} (got {value!r}).")
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "on", "1"):
                return True
            if text in ("false", "no", "off", "0"):
                return False
            raise wrong
        if self.kind is str:
            if not isinstance(value, str):
                raise wrong
            return value
        if isinstance(value, bool):
            raise wrong
        try:
            number = float(value) if isinstance(value, str | int | float) else math.nan
        except ValueError:
            raise wrong from None
        if self.kind is int:
            if not number.is_integer():
                raise wrong
            return int(number)
        return number


def check_extras(given: Mapping[str, object], declared: Sequence[ExtraSetting], family_label: str) -> dict[str, Extra]:
    """The family's settings in `given`, each checked and typed; a name the family does not declare is refused."""
    known = {setting.name: setting for setting in declared}
    checked: dict[str, Extra] = {}
    for name, value in given.items():
        setting = known.get(name)
        if setting is None:
            takes = ", ".join(known) if known else "none"
            raise InvalidRequest(f"{family_label} models take no setting '{name}' (their own settings: {takes}).")
        checked[name] = setting.check(value)
    return checked


def parse_extras(text: str) -> dict[str, str]:
    """`name=value` pairs separated by spaces or commas (a command's or a chat option's text), values as typed."""
    pairs: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        name, sep, value = part.partition("=")
        if not sep or not name or not value:
            raise InvalidRequest(f"Write each setting as name=value, e.g. clip_skip=2 (got '{part}').")
        pairs[name.strip().lower()] = value.strip()
    return pairs
