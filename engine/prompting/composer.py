"""Deterministic prompt composer for /vary and /edit: (description, instruction) → prompt + negative.

The description is what the picture shows (a caption or the original prompt); the instruction is what
the user wants changed, in plain words. Rules are simple word patterns, applied in this order to the
lower-cased instruction: negatives and times anywhere, then clause by clause style, add, replace,
put/place, background, make, a bare "X in Y", and a free-text fallback. CLIP lower-cases text anyway,
so the whole prompt is lower-case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from engine.prompting.scene import (
    Scene,
    head_word,
    mentions,
    normalise,
    parse_scene,
    refers_to_subject,
    strip_articles,
)
from engine.prompting.words import (
    BODY_PARTS,
    FILLER_RE,
    IMAGE_WIDE,
    IMAGE_WORDS_RE,
    NEGATIVE_RE,
    PLACE_MARKERS,
    PRONOUNS,
    STYLE_RE,
    STYLES,
    TIME_RE,
    TIMES,
    VERBS_ING,
    WEARABLES,
)

MAX_PROMPT_CHARS = 400

STRENGTH = {"style": 0.75, "context": 0.7, "replace": 0.65, "modify": 0.6, "free": 0.6, "add": 0.55, "time": 0.55}
NEGATIVE_STRENGTH = 0.5


@dataclass(frozen=True)
class ComposedPrompt:
    """The prompt to render, what to avoid, a suggested img2img strength, the rules that fired, and who wrote
    the prompt (`composer`, or `rewriter` when a language model's version was accepted)."""

    prompt: str
    negative_prompt: str
    strength_hint: float | None
    rule: str
    source: str = "composer"


class Rewriter(Protocol):
    """An optional local instruction-tuned LM that polishes a composed prompt."""

    def rewrite(self, description: str, instruction: str, composed: ComposedPrompt) -> ComposedPrompt: ...


class PassThroughRewriter:
    """The default rewriter: keeps the rule-based result as it is."""

    def rewrite(self, description: str, instruction: str, composed: ComposedPrompt) -> ComposedPrompt:
        return composed


# ---------------------------------------------------------------- rules


def compose(description: str, instruction: str, rewriter: Rewriter | None = None) -> ComposedPrompt:
    """Turn a description and a plain-words instruction into a prompt, a negative prompt and a strength hint."""
    scene = parse_scene(description)
    text = _clean_instruction(instruction)
    if not text:
        result = ComposedPrompt(_clean_prompt(description.strip()), "", None, "empty")
        return rewriter.rewrite(description, instruction, result) if rewriter else result

    rules: list[str] = []
    negatives: list[str] = []

    # 1. Negatives anywhere: they go to the negative prompt and leave the prompt.
    def take_negative(match: re.Match[str]) -> str:
        term = strip_articles(match.group("x")).strip()
        if term:
            negatives.append(term)
        return " , "

    text = NEGATIVE_RE.sub(take_negative, text)
    for term in negatives:
        _apply_negative(scene, term)
    if negatives:
        rules.append("negative")

    # 2. Times, seasons and weather anywhere: they replace the description's own.
    times: list[str] = []

    def take_time(match: re.Match[str]) -> str:
        phrase = TIMES[match.group("t")]
        if phrase not in times:
            times.append(phrase)
        return " , "

    text = TIME_RE.sub(take_time, text)
    if times:
        scene.times = times
        rules.append("time")

    # 3. What is left, clause by clause.
    for clause in _clauses(text):
        rule = _apply_clause(scene, clause)
        if rule not in rules:
            rules.append(rule)

    hints = [STRENGTH[r] for r in rules if r in STRENGTH] or [NEGATIVE_STRENGTH]
    result = ComposedPrompt(
        prompt=_clean_prompt(scene.render()),
        negative_prompt=_clean_prompt(", ".join(dict.fromkeys(negatives))),
        strength_hint=max(hints),
        rule="+".join(rules) or "free",
    )
    return rewriter.rewrite(description, instruction, result) if rewriter else result


def _clean_instruction(instruction: str) -> str:
    text = normalise(instruction).strip(" .!?")
    text = FILLER_RE.sub("", text)
    return IMAGE_WORDS_RE.sub("it", text).strip(" .!?")


def _clauses(text: str) -> list[str]:
    # "black and white" is one style, not two clauses.
    protected = text.replace("black and white", "black&white")
    pieces = re.split(r"\s*(?:[,;]|\band\b|\bthen\b|\bbut\b)\s*", protected)
    clauses = []
    for piece in pieces:
        piece = FILLER_RE.sub("", piece.replace("black&white", "black and white").strip(" .!?"))
        if piece and piece not in ("it", "please"):
            clauses.append(piece)
    return clauses


def _apply_negative(scene: Scene, term: str) -> None:
    if head_word(term) == "background":
        # Without its background the subject stands alone.
        scene.places.clear()
        scene.extras = [e for e in scene.extras if "background" not in e]
        scene.extras.append("isolated on plain white")
        return
    word = head_word(term)
    scene.attributes = [a for a in scene.attributes if not mentions(a, word)]
    scene.places = [p for p in scene.places if not mentions(p, word)]
    scene.extras = [e for e in scene.extras if not mentions(e, word)]


def _apply_clause(scene: Scene, clause: str) -> str:
    for rule in (_style_rule, _add_rule, _replace_rule, _put_rule, _background_rule, _make_rule, _in_rule):
        name = rule(scene, clause)
        if name:
            return name
    scene.extras.append(clause)
    return "free"


def _style_rule(scene: Scene, clause: str) -> str | None:
    match = re.search(r"\bin the style of\s+(?P<x>.+)$", clause)
    if match:
        phrase = f"in the style of {match.group('x')}"
    else:
        found = STYLE_RE.search(clause)
        if not found:
            return None
        phrase = STYLES[found.group(1)]
    # A restyle keeps the subject; the picture it starts from carries the composition.
    scene.places.clear()
    scene.extras.clear()
    # Times the instruction asked for carry light words after a comma; the description's own are dropped.
    scene.times = [t for t in scene.times if "," in t]
    if phrase not in scene.styles:
        scene.styles.append(phrase)
    return "style"


def _add_rule(scene: Scene, clause: str) -> str | None:
    match = re.match(r"^(?:add|include|give\s+(?:it|him|her|them)|put)\s+(?P<x>.+)$", clause)
    if not match or (clause.startswith("put") and " on " not in clause and " in " not in clause):
        return None
    element = match.group("x").strip()
    if clause.startswith("put"):
        target = re.match(r"^(?P<x>.+?)\s+(?:on|onto)\s+(?P<y>.+)$", element)
        if not target or not refers_to_subject(target.group("y"), scene):
            return None  # "put X in Y" that moves the subject: the put rule handles it
        element = target.group("x")
    else:
        element = re.sub(r"\s+(?:to|on)\s+(?:it|him|her|them|the\s+\w+)$", "", element)
    words = set(re.findall(r"[a-z]+", element))
    if words & WEARABLES:
        scene.attributes.append(f"with {element}")
    elif element.startswith(("more ", "some ")):
        scene.extras.append(element)
    else:
        scene.extras.append(f"with {element}")
    return "add"


def _replace_rule(scene: Scene, clause: str) -> str | None:
    match = re.match(r"^(?:replace|swap|change|turn)\s+(?P<x>.+?)\s+(?:with|for|into|to)\s+(?P<y>.+)$", clause)
    if not match or head_word(match.group("x")) == "background":
        return None
    old, new = strip_articles(match.group("x")), strip_articles(match.group("y"))
    if STYLE_RE.search(new):
        return None
    if old in PRONOUNS or refers_to_subject(old, scene):
        scene.subject = new
        return "replace"
    word = head_word(old)
    for bucket in (scene.attributes, scene.places, scene.extras):
        for i, segment in enumerate(bucket):
            if mentions(segment, word):
                bucket[i] = re.sub(rf"\b{re.escape(old)}\b", new, segment) if old in segment else f"{segment}, {new}"
                return "replace"
    scene.extras.append(new)
    return "replace"


def _put_rule(scene: Scene, clause: str) -> str | None:
    match = re.match(
        r"^(?:put|place|move|set|take|send|bring|show|transport|teleport)\s+(?P<x>.+?)\s+"
        r"(?P<prep>in front of|next to|into|onto|inside|in|on|at|under|to|near)\s+(?P<y>.+)$",
        clause,
    )
    if not match:
        return None
    x, y = match.group("x"), match.group("y")
    if not refers_to_subject(x, scene):
        scene.extras.append(f"with {x} {match.group('prep')} {y}")
        return "add"
    _set_place(scene, match.group("prep"), y)
    return "context"


def _background_rule(scene: Scene, clause: str) -> str | None:
    match = re.match(
        r"^(?:(?:change|replace|swap|make|set)\s+(?:the\s+|its\s+)?background\s+(?:to|with|into|for)?\s*"
        r"|(?:the\s+)?background\s*(?:is|:|of|to)?\s*)(?P<y>.+)$",
        clause,
    )
    if not match:
        return None
    scene.places.clear()
    scene.extras = [e for e in scene.extras if "background" not in e]
    scene.extras.append(f"{strip_articles(match.group('y'))} background")
    return "context"


def _set_place(scene: Scene, prep: str, where: str) -> None:
    prep = {"into": "in", "onto": "on", "to": "at"}.get(prep, prep)
    scene.places = [f"{prep} {where}"]
    scene.extras = [e for e in scene.extras if not _looks_like_setting(e)]


def _looks_like_setting(part: str) -> bool:
    return part.split()[0] in PLACE_MARKERS or part.endswith(("background", "scenery", "landscape"))


def _make_rule(scene: Scene, clause: str) -> str | None:
    match = re.match(
        r"^(?:make|turn|let)\s+(?P<who>it|her|him|them|this|that|everything|the\s+[a-z-]+)\s+(?P<x>.+)$", clause
    )
    possessive = re.match(r"^make\s+(?:his|her|its|their)\s+(?P<part>[a-z-]+)\s+(?P<x>.+)$", clause)
    if possessive and possessive.group("part") in BODY_PARTS:
        part, value = possessive.group("part"), possessive.group("x")
        scene.attributes = [a for a in scene.attributes if not mentions(a, part)]
        scene.attributes.append(f"with {value} {part}")
        return "modify"
    if not match:
        return None
    who, change = match.group("who"), match.group("x").strip()
    change = re.sub(r"^(?:look\s+like|look|into|be|become|seem)\s+", "", change)
    change = re.sub(r"^(?:more|very)\s+(?=\w+$)", "more ", change)
    if who in ("it", "this", "that", "everything") and change in IMAGE_WIDE:
        # "make it brighter" is about the picture, not the subject.
        scene.extras.append(IMAGE_WIDE[change])
        return "modify"
    if who.startswith("the ") and not refers_to_subject(who, scene):
        scene.extras.append(f"{change} {strip_articles(who)}")
        return "modify"
    scene.subject = _modified_subject(scene.subject, change)
    return "modify"


def _modified_subject(subject: str, change: str) -> str:
    words = change.split()
    if words[0] in ("a", "an", "the"):
        return f"{subject} as {change}"
    if words[0] in VERBS_ING:
        return " ".join([subject, VERBS_ING[words[0]], *words[1:]])
    if words[0].endswith("ing") or len(words) > 2:
        return f"{subject} {change}"
    return f"{change} {subject}"


def _in_rule(scene: Scene, clause: str) -> str | None:
    bare = re.match(r"^(?P<prep>in front of|next to|inside|in|on|at|under|near)\s+(?P<y>.+)$", clause)
    if bare:
        _set_place(scene, bare.group("prep"), bare.group("y"))
        return "context"
    match = re.match(r"^(?P<x>.+?)\s+(?P<prep>in front of|next to|inside|in|on|at|under|near)\s+(?P<y>.+)$", clause)
    if not match:
        return None
    if refers_to_subject(match.group("x"), scene):
        _set_place(scene, match.group("prep"), match.group("y"))
        return "context"
    scene.extras.append(clause)
    return "add"


def _clean_prompt(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r",(?:\s*,)+", ",", text)
    text = re.sub(r",(?=\S)", ", ", text)
    text = text.strip(" ,.;:!?")
    if len(text) > MAX_PROMPT_CHARS:
        cut = text[:MAX_PROMPT_CHARS]
        text = cut[: max(cut.rfind(","), cut.rfind(" "))] if " " in cut else cut
        text = text.strip(" ,.;:!?")
    return text
