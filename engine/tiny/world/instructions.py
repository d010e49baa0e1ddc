"""/vary and /edit in the Tiny World: read a world caption into a scene, change it as an instruction says, and
write it back in the world's grammar ("make it green": "a red circle on a blue background" becomes "a green circle
on a blue background").

The studio's general composer would write "green red circle on a blue background", which the world's text encoder
never saw; here every output is a caption the world itself writes (`world.caption`). Instructions name the world's
own words: a colour (for the shape, or for the background when they say "background"), a shape, "two" or "one",
a position. An instruction with none of them is not the world's: `compose_world` answers None and the caller
keeps the general composer.
"""

from __future__ import annotations

import re
from dataclasses import replace

from engine.prompting.composer import ComposedPrompt
from engine.tiny.world import world

# How much of the source image img2img redraws: enough noise that a colour or shape can change (BENCHMARKS.md,
# "Model quality": the share of green shapes after "make it green" by strength).
STRENGTH = 0.8
_COLOUR = "|".join(world.COLOURS)
_SHAPE = "|".join(world.SHAPES)
_POSITION = "|".join(p.replace(" ", r"\s+") for p in world.POSITIONS)
_CAPTION = re.compile(
    rf"^(?:(?P<two>two)|an?)\s+(?P<colour>{_COLOUR})\s+(?P<shape>{_SHAPE})s?"
    rf"(?:\s+in\s+the\s+(?P<position>{_POSITION}))?(?:\s+on\s+an?\s+(?P<background>{_COLOUR})\s+background)?$"
)
_BACKGROUND = re.compile(rf"\b(?:background|backdrop)\b[\w\s]*?\b(?P<c>{_COLOUR})\b|\b(?P<d>{_COLOUR})\s+background\b")
_COLOUR_WORD = re.compile(rf"\b(?P<c>{_COLOUR})\b")
_SHAPE_WORD = re.compile(rf"\b(?P<s>{_SHAPE})s?\b")
_POSITION_WORD = re.compile(rf"\b(?P<p>{_POSITION}|center|middle)\b")
_NOT = re.compile(
    rf"\b(?:instead\s+of|rather\s+than|not|no\s+longer|no\s+more)\s+(?:an?\s+|the\s+)?(?:(?:{_COLOUR}|{_SHAPE})s?\s*)+"
)
_TARGET = re.compile(r"\b(?:to|into|with|for)\b")
_TWO = re.compile(r"\b(?:two|2|pair|double|both)\b")
_ONE = re.compile(r"\b(?:one|1|single|only)\b")


def parse_caption(text: str) -> world.Scene | None:
    """The scene a world caption describes, or None for text the world does not write."""
    match = _CAPTION.match(" ".join(text.lower().strip(" .").split()))
    if match is None:
        return None
    colour, background = match.group("colour"), match.group("background")
    if background is None or background == colour:
        return None  # without its background a caption does not fix the scene
    position = " ".join(match.group("position").split()) if match.group("position") else "centre"
    count = 2 if match.group("two") else 1
    return world.Scene(match.group("shape"), colour, background, count, "centre" if count == 2 else position)


def edit_scene(scene: world.Scene, instruction: str) -> world.Scene | None:
    """`scene` changed as `instruction` says, or None when it names nothing the world knows."""
    text = " ".join(instruction.lower().replace("colour", "color").split())
    text = _NOT.sub(" ", text)  # "green instead of red": what it is not says nothing of what it is
    changed = scene
    background = _BACKGROUND.search(text)
    if background:
        changed = replace(changed, background=background.group("c") or background.group("d"))
        text = text[: background.start()] + " " + text[background.end() :]
    # "turn the red circle into a green square": the words after the last "to", "into" or "with" are the new ones.
    target = _TARGET.split(text)[-1]
    colour = _COLOUR_WORD.search(target) or _COLOUR_WORD.search(text)
    if colour:
        changed = replace(changed, colour=colour.group("c"))
    shape = _SHAPE_WORD.search(target) or _SHAPE_WORD.search(text)
    if shape:
        changed = replace(changed, shape=shape.group("s"))
    position = _POSITION_WORD.search(text)
    if position:
        where = " ".join(position.group("p").split())
        changed = replace(changed, count=1, position="centre" if where in ("center", "middle") else where)
    elif _TWO.search(text):
        changed = replace(changed, count=2, position="centre")
    elif _ONE.search(text):
        changed = replace(changed, count=1)
    if not (background or colour or shape or position or _TWO.search(text) or _ONE.search(text)):
        return None
    if changed.colour == changed.background:
        # "make it blue" on a blue background: the shape wins, the background takes the shape's old colour.
        changed = replace(changed, background=scene.colour if background is None else scene.background)
        if changed.colour == changed.background:
            return None
    return changed


def compose_world(description: str, instruction: str) -> ComposedPrompt | None:
    """The world's output prompt for /vary: the description's scene edited by the instruction, or None."""
    scene = parse_caption(description)
    if scene is None:
        return None
    changed = edit_scene(scene, instruction)
    if changed is None:
        return None
    return ComposedPrompt(world.caption(changed), "", STRENGTH, "world")
