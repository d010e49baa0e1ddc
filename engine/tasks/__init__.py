"""The engine's tasks: each runs one kind of work order on the worker and returns a plain outcome.

A task is `run(order, ctx, host) -> outcome`; `EngineHost` finds it by the order's `task` name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.host import Task


def default_tasks() -> dict[str, Task]:
    """The tasks every host runs."""
    from engine.tasks import caption, check_set, compose, describe, export, generate, sheet, train

    return {
        "generate": generate.run,
        "describe": describe.run,
        "compose": compose.run,
        "caption": caption.run,
        "check_set": check_set.run,
        "sheet": sheet.run,
        "train": train.run,
        "export": export.run,
    }
