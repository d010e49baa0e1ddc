"""Prompt templates that vary from post to post: `{gym|café|beach}` picks one, `__name__` one of a server's list.

Every choice comes from a generator seeded by the post's slot, so the same slot always makes the same prompt
(a retried post is the same post), and a test can count choices over many slots.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studio.errors import StudioError

_CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")  # innermost {a|b|…}
_NAMED = re.compile(r"__([a-z0-9_-]+)__")
MAX_EXPANSIONS = 50  # nested templates are expanded inside out, this many times at most
MAX_VALUES = 100
MAX_VALUE = 200


class TemplateError(StudioError):
    """A template or list that cannot be used; the message says what to change."""


def check_template(template: str, lists: Mapping[str, Sequence[str]]) -> None:
    """Refuse a template naming a list the server does not have, or with an empty choice."""
    for name in _NAMED.findall(template):
        if name not in lists:
            known = ", ".join(sorted(lists)) or "none yet"
            raise TemplateError(
                f"The prompt uses __{name}__ but this server has no such list (known: {known}). "
                f"Make it with `/autopost wildcard {name} value1, value2, …`."
            )
    for choice in _CHOICE.findall(template):
        if any(not part.strip() for part in choice.split("|")):
            raise TemplateError(f"`{{{choice}}}` has an empty choice: write each option between the bars.")


def expand(template: str, lists: Mapping[str, Sequence[str]], rng: random.Random) -> str:
    """The template with every choice made: lists first (their values may hold choices), then inside out."""
    text = template
    for _ in range(MAX_EXPANSIONS):
        before = text
        text = _NAMED.sub(lambda m: rng.choice(list(lists.get(m.group(1)) or [""])), text)
        text = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")).strip(), text)
        if text == before:
            break
    return " ".join(text.split())


def parse_values(text: str) -> tuple[str, ...]:
    """A list's values as a member types them: separated by commas (or new lines)."""
    values = tuple(dict.fromkeys(v.strip() for v in re.split(r"[,\n]", text) if v.strip()))
    if not values:
        raise TemplateError("Give the list's values separated by commas, e.g. `gym, café, beach`.")
    if len(values) > MAX_VALUES or any(len(v) > MAX_VALUE for v in values):
        raise TemplateError(f"A list holds at most {MAX_VALUES} values of at most {MAX_VALUE} characters each.")
    return values


@dataclass(frozen=True)
class Pick:
    """One post's choices: its prompt, and whether it uses the LoRA (else the LoRA's base model)."""

    prompt: str
    use_lora: bool


def pick(template: str, lists: Mapping[str, Sequence[str]], lora_share: int, seed: int) -> Pick:
    """The prompt and the model mix for the post seeded by `seed` (`lora_share` in percent)."""
    rng = random.Random(seed)
    use_lora = rng.random() * 100 < lora_share
    return Pick(expand(template, lists, rng), use_lora)
