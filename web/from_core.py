"""Answers made from the core's dataclasses: what an answer shares with one by name is copied, not spelt again."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Answer = TypeVar("Answer", bound=BaseModel)


def from_core(model: type[Answer], value: object, **given: Any) -> Answer:
    """`model` made from `value`: every field of the same name (nested dataclasses too; tuples become lists), and
    `given` for the fields the web adds (addresses) or names otherwise. Validated as any answer is."""
    shared = {name: getattr(value, name) for name in model.model_fields if name not in given and hasattr(value, name)}
    return model.model_validate(shared | given, from_attributes=True)
