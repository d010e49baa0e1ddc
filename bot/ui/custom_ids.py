"""The custom_id grammar of every button and modal the bot sends.

A custom_id carries all the state a component needs, so a click works after a restart: the rest
is loaded from the services. Grammar (ASCII, at most 100 characters, Discord's limit)::

    studio:u:<job_id>:<index>            upscale image <index> (1-based) of job <job_id>
    studio:v:<job_id>:<index>:<s|x>      vary image <index>; s = subtle, x = strong
    studio:reroll:<job_id>               same settings, new seed
    studio:remix:<job_id>                open the remix modal (edit the prompt)
    studio:remixm:<job_id>               the remix modal itself (its submit)
    studio:del:<job_id>                  delete the job and its message
    studio:cancel:<job_id>               cancel a running or waiting job (on its status message)
    studio:qcancel:<job_id>              cancel one of the caller's jobs from /queue
    studio:dg:<job_id>:<index>           /generate with prompt <index> (1-based) of describe job <job_id>
    studio:dga:<job_id>                  /generate with every prompt of describe job <job_id>, one image each
    studio:tsdel:<set_id>                confirm deleting training set <set_id> (the number is a set's id)
    studio:qs:<job_id>                   Quick select: the character sheet whose last group is <job_id>, into a set
    studio:trgo:<run_id>                 start the planned training run <run_id>
    studio:trno:<run_id>                 cancel the plan of training run <run_id>
    studio:trtry:<run_id>                Try it: open a prompt modal for the run's model
    studio:trtrym:<run_id>               that modal's submit (a /generate with the run's model)
    studio:trdl:<run_id>                 attach the run's LoRA file (kohya format)
    studio:trck:<run_id>                 the select menu that registers one of the run's checkpoints

`<job_id>` and `<index>` are decimal integers without sign or leading zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_CUSTOM_ID = 100
PREFIX = "studio"
MAX_INDEX = 8  # the largest batch a job can have

Action = Literal[
    "u", "v", "reroll", "remix", "remixm", "del", "cancel", "qcancel", "dg", "dga", "tsdel", "qs",
    "trgo", "trno", "trtry", "trtrym", "trdl", "trck",
]  # fmt: skip
_SIMPLE: tuple[Action, ...] = (
    "reroll", "remix", "remixm", "del", "cancel", "qcancel", "dga", "tsdel", "qs",
    "trgo", "trno", "trtry", "trtrym", "trdl", "trck",
)  # fmt: skip
_STRENGTH_CODE = {"subtle": "s", "strong": "x"}
_CODE_STRENGTH = {v: k for k, v in _STRENGTH_CODE.items()}

_NUM = r"[1-9][0-9]{0,19}"
# Regexes for DynamicItem templates: named groups carry the fields.
TEMPLATES: dict[Action, str] = {
    "u": rf"{PREFIX}:u:(?P<job_id>{_NUM}):(?P<index>[1-8])",
    "v": rf"{PREFIX}:v:(?P<job_id>{_NUM}):(?P<index>[1-8]):(?P<strength>[sx])",
    "dg": rf"{PREFIX}:dg:(?P<job_id>{_NUM}):(?P<index>[1-8])",
    **{action: rf"{PREFIX}:{action}:(?P<job_id>{_NUM})" for action in _SIMPLE},
}
_COMPILED = {action: re.compile(pattern) for action, pattern in TEMPLATES.items()}


@dataclass(frozen=True)
class ParsedId:
    """A parsed custom_id: the action, the job, and for u/v/dg the index (and for v the strength)."""

    action: Action
    job_id: int
    index: int | None = None
    strength: Literal["subtle", "strong"] | None = None


def _check_job(job_id: int) -> None:
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1 or len(str(job_id)) > 20:
        raise ValueError(f"job_id must be a positive integer, got {job_id!r}")


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= MAX_INDEX:
        raise ValueError(f"index must be 1..{MAX_INDEX}, got {index!r}")


def _done(custom_id: str) -> str:
    assert len(custom_id) <= MAX_CUSTOM_ID, custom_id  # the grammar's fields cannot exceed it
    return custom_id


def upscale_id(job_id: int, index: int) -> str:
    _check_job(job_id)
    _check_index(index)
    return _done(f"{PREFIX}:u:{job_id}:{index}")


def vary_id(job_id: int, index: int, strength: Literal["subtle", "strong"]) -> str:
    _check_job(job_id)
    _check_index(index)
    if strength not in _STRENGTH_CODE:
        raise ValueError(f"strength must be subtle or strong, got {strength!r}")
    return _done(f"{PREFIX}:v:{job_id}:{index}:{_STRENGTH_CODE[strength]}")


def described_id(job_id: int, index: int) -> str:
    """The button under a description that generates with its prompt `index` (1-based)."""
    _check_job(job_id)
    _check_index(index)
    return _done(f"{PREFIX}:dg:{job_id}:{index}")


def simple_id(action: Action, job_id: int) -> str:
    """The actions with one number: a job's id, a set's (tsdel) or a training run's (tr…)."""
    if action not in _SIMPLE:
        raise ValueError(f"unknown action {action!r}")
    _check_job(job_id)
    return _done(f"{PREFIX}:{action}:{job_id}")


def parse(custom_id: str) -> ParsedId:
    """Parse a custom_id of this grammar; ValueError for anything else."""
    if not isinstance(custom_id, str) or len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError("not a studio custom_id")
    for action, pattern in _COMPILED.items():
        match = pattern.fullmatch(custom_id)
        if match is None:
            continue
        groups = match.groupdict()
        return ParsedId(
            action=action,
            job_id=int(groups["job_id"]),
            index=int(groups["index"]) if "index" in groups else None,
            strength=_CODE_STRENGTH[groups["strength"]] if "strength" in groups else None,  # type: ignore[arg-type]
        )
    raise ValueError(f"not a studio custom_id: {custom_id[:40]!r}")
