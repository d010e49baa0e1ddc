"""Small prompt helpers shared by the engine's tasks and the services."""

from __future__ import annotations


def with_trigger(prompt: str, trigger: str | None) -> str:
    """`prompt` with a LoRA's trigger word in front, unless the prompt already has it."""
    if trigger and trigger.lower() not in prompt.lower():
        return f"{trigger}, {prompt}"
    return prompt
