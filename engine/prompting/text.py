"""Small prompt helpers shared by the engine's tasks and the services."""

from __future__ import annotations

import re


def with_trigger(prompt: str, trigger: str | None) -> str:
    """`prompt` with a LoRA's trigger word in front, unless the prompt already has it as a word of its own."""
    if trigger and re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", prompt, re.IGNORECASE) is None:
        return f"{trigger}, {prompt}"
    return prompt


def clean_caption(text: str) -> str:
    """Collapse whitespace, drop stray punctuation at the ends and the captioners' filler openings."""
    text = " ".join(text.replace("\n", " ").split()).strip(" .,;:")
    lowered = text.lower()
    for filler in ("there is ", "this is ", "an image of ", "a picture of ", "a photo of ", "the image shows "):
        if lowered.startswith(filler) and len(text) > len(filler):
            text = text[len(filler) :]
            break
    return text
