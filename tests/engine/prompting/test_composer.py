"""The prompt composer on a table of descriptions and instructions."""

from __future__ import annotations

import pytest

from engine.prompting.composer import MAX_PROMPT_CHARS, ComposedPrompt, PassThroughRewriter, compose
from engine.prompting.scene import subject_of

# (description, instruction, expected prompt, expected negative prompt, expected rule)
TABLE = [
    ("a cat sitting on a sofa", "", "a cat sitting on a sofa", "", "empty"),
    ("a cat on a sofa", "as a watercolor", "cat, watercolor painting", "", "style"),
    ("an old man with a beard, oil painting", "in the style of van gogh",
     "old man with a beard, in the style of van gogh", "", "style"),
    ("a red car on a mountain road", "pixel art", "red car, pixel art", "", "style"),
    ("a girl in a garden", "anime style", "girl, anime style", "", "style"),
    ("a city street at night, rain", "make it cyberpunk", "city street, cyberpunk style, neon lights", "", "style"),
    ("A photo of a cat on a sofa.", "in black and white", "cat, black and white photograph", "", "style"),
    ("a cat on a sofa", "make it orange", "orange cat on a sofa", "", "modify"),
    ("a woman in a park", "make her smile", "woman smiling in a park", "", "modify"),
    ("a man with a hat on a beach", "make him older", "older man with a hat on a beach", "", "modify"),
    ("a woman in a park", "make her hair blue", "woman with blue hair in a park", "", "modify"),
    ("a cat on a sofa", "please make the image brighter!", "cat on a sofa, bright lighting", "", "modify"),
    ("a dog in a living room", "put the dog on the moon", "dog on the moon", "", "context"),
    ("a dog in a living room", "put it in a forest", "dog in a forest", "", "context"),
    ("a dog in a living room", "on a beach", "dog on a beach", "", "context"),
    ("a cat on a sofa", "the cat in paris", "cat in paris", "", "context"),
    ("a cat on a sofa", "change the background to a beach", "cat, beach background", "", "context"),
    ("a house by the lake", "at night", "house by the lake, at night, moonlight", "", "time"),
    ("a house on a hill, at noon", "during sunset", "house on a hill, at sunset, golden hour light", "", "time"),
    ("a boat on the sea", "make it night", "boat on the sea, at night, moonlight", "", "time"),
    ("a dog in a park", "in winter", "dog in a park, in winter, snow, cold light", "", "time"),
    ("a man with a hat on a beach", "without the hat", "man on a beach", "hat", "negative"),
    ("a poster of a dragon, text at the bottom", "no text", "poster of a dragon", "text", "negative"),
    ("a cat on a sofa", "don't show the sofa", "cat", "sofa", "negative"),
    ("a woman in a red dress in a park", "remove the background", "woman, isolated on plain white",
     "background", "negative"),
    ("a cat on a sofa", "add a hat", "cat with a hat on a sofa", "", "add"),
    ("a meadow with flowers", "add a rainbow", "meadow with flowers, with a rainbow", "", "add"),
    ("a cat on a sofa", "put a hat on the cat", "cat with a hat on a sofa", "", "add"),
    ("a cat on a sofa", "replace the cat with a dog", "dog on a sofa", "", "replace"),
    ("a man with a hat on a beach", "replace the hat with a crown", "man with a crown on a beach", "", "replace"),
    ("a cat on a sofa", "make it a watercolor at night without the sofa",
     "cat, at night, moonlight, watercolor painting", "sofa", "negative+time+style"),
    ("a man in an office", "make him wear a suit and add glasses",
     "man wearing a suit with glasses in an office", "", "modify+add"),
    ("a castle on a hill", "more dramatic clouds", "castle on a hill, more dramatic clouds", "", "free"),
]  # fmt: skip


@pytest.mark.parametrize(("description", "instruction", "prompt", "negative", "rule"), TABLE)
def test_table(description: str, instruction: str, prompt: str, negative: str, rule: str) -> None:
    result = compose(description, instruction)
    assert isinstance(result, ComposedPrompt)
    assert (result.prompt, result.negative_prompt, result.rule) == (prompt, negative, rule)


def test_strength_hints_follow_the_rule() -> None:
    assert compose("a cat", "").strength_hint is None
    style = compose("a cat on a sofa", "as a watercolor").strength_hint
    add = compose("a cat on a sofa", "add a hat").strength_hint
    negative = compose("a cat on a sofa", "no text").strength_hint
    assert style is not None
    assert add is not None
    assert negative is not None
    assert style > add >= negative > 0


def test_negatives_never_stay_in_the_prompt() -> None:
    for description, instruction, *_ in TABLE:
        result = compose(description, instruction)
        for term in filter(None, result.negative_prompt.split(", ")):
            assert term.split()[-1] not in result.prompt.split(), (description, instruction)


def test_output_is_clean_and_bounded() -> None:
    result = compose("a cat ,, on   a sofa ,", "add " + "very long ornate golden detail, " * 40)
    assert "  " not in result.prompt
    assert ",," not in result.prompt.replace(" ", "")
    assert not result.prompt.endswith((",", ".", " "))
    assert len(result.prompt) <= MAX_PROMPT_CHARS


def test_deterministic() -> None:
    assert compose("a dog in a park", "make it pixel art at sunset") == compose(
        "a dog in a park", "make it pixel art at sunset"
    )


@pytest.mark.parametrize(
    ("description", "subject"),
    [
        ("a cat on a sofa", "cat"),
        ("The old lighthouse, stormy sea", "old lighthouse"),
        ("an astronaut with a helmet in space", "astronaut"),
        ("a picture of a dog in the snow", "dog"),
        ("two children at the beach", "two children"),
    ],
)
def test_subject_heuristic(description: str, subject: str) -> None:
    assert subject_of(description) == subject


def test_rewriter_is_consulted() -> None:
    class Shouting:
        def rewrite(self, description: str, instruction: str, composed: ComposedPrompt) -> ComposedPrompt:
            return ComposedPrompt(composed.prompt.upper(), composed.negative_prompt, composed.strength_hint, "lm")

    assert compose("a cat on a sofa", "add a hat", rewriter=Shouting()).prompt == "CAT WITH A HAT ON A SOFA"
    plain = compose("a cat on a sofa", "add a hat")
    assert compose("a cat on a sofa", "add a hat", rewriter=PassThroughRewriter()) == plain
