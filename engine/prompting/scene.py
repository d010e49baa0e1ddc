"""A description (a caption or a prompt) read into parts: its subject, attributes, places, times and extras.

The prompt composer (`engine.prompting.composer`) edits these parts by the instruction's rules and renders them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.prompting.words import ARTICLES, ATTRIBUTE_MARKERS, CAPTION_OPENERS, DESC_TIME_RE, PRONOUNS, SEGMENT_RE


@dataclass
class Scene:
    """A description in parts; `render` joins them back into one prompt."""

    subject: str
    attributes: list[str] = field(default_factory=list)  # "with a hat", "wearing ...", "holding ..."
    places: list[str] = field(default_factory=list)  # "on a sofa", "in a park"
    times: list[str] = field(default_factory=list)  # "at night, moonlight"
    extras: list[str] = field(default_factory=list)  # comma parts: "oil painting", "with a rainbow"
    styles: list[str] = field(default_factory=list)

    def render(self) -> str:
        head = " ".join([self.subject, *self.attributes, *self.places])
        return ", ".join([head, *self.times, *self.extras, *self.styles])


def strip_articles(text: str) -> str:
    text = text.strip()
    lowered = text.lower()
    for opener in CAPTION_OPENERS:
        if lowered.startswith(opener):
            text, lowered = text[len(opener) :], lowered[len(opener) :]
            break
    for article in ARTICLES:
        if lowered.startswith(article):
            return text[len(article) :].strip()
    return text


def subject_of(description: str) -> str:
    """The first noun phrase of a description: leading articles dropped, cut at in/on/with/..., or a comma."""
    return parse_scene(description).subject


def parse_scene(description: str) -> Scene:
    parts = [p.strip() for p in normalise(description).split(",") if p.strip()]
    if not parts:
        return Scene(subject="")
    pieces = SEGMENT_RE.split(strip_articles(parts[0]))
    scene = Scene(subject=pieces[0].strip())
    for piece in pieces[1:]:
        piece = piece.strip()
        if DESC_TIME_RE.match(piece):
            scene.times.append(piece)
        elif piece.split()[0] in ATTRIBUTE_MARKERS:
            scene.attributes.append(piece)
        else:
            scene.places.append(piece)
    for part in parts[1:]:
        (scene.times if DESC_TIME_RE.match(part) else scene.extras).append(part)
    return scene


def normalise(text: str) -> str:
    return " ".join(text.lower().replace("\n", " ").split())


def head_word(phrase: str) -> str:
    words = re.findall(r"[a-z0-9'-]+", phrase)
    return words[-1] if words else ""


def same_word(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a == b or a.rstrip("s") == b.rstrip("s"))


def mentions(segment: str, word: str) -> bool:
    return any(same_word(w, word) for w in re.findall(r"[a-z0-9'-]+", segment))


def refers_to_subject(phrase: str, scene: Scene) -> bool:
    words = re.findall(r"[a-z0-9'-]+", phrase)
    if not words:
        return False
    if words[-1] in PRONOUNS or (len(words) <= 2 and words[0] in PRONOUNS):
        return True
    return same_word(head_word(phrase), head_word(scene.subject))
