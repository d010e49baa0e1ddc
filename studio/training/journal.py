"""A run's journal: one JSON line per step the engine reported, kept in the run's folder (`progress.jsonl`).

The core had no per-run log: progress went to the delivery port and was gone. The journal keeps it, so that a
page opened mid-run (or after a restart) draws the whole loss curve, shows the pace, and tails the run's log.
Each line holds the step, the total, the time, the engine's detail ("loss 0.1234, 2.10 samples/s, …") and the
newest sample grid's path; the loss and the pace are read back from the detail, as the engine words it.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "progress.jsonl"
MAX_LINES = 200  # the log tail a page may ask for
PACE_WINDOW = 20  # steps the ETA's pace is measured over (sample grids slow a few steps down)
_LOSS = re.compile(r"\bloss (-?[0-9.]+(?:e-?[0-9]+)?|nan)")
_RATE = re.compile(r"([0-9.]+) samples/s")


@dataclass(frozen=True)
class JournalView:
    """What the journal says of a run: its losses by step, its newest pace and grid, and its last lines."""

    losses: tuple[tuple[int, float], ...]
    samples_per_s: float | None
    step: int
    total: int
    newest_grid: Path | None
    lines: tuple[str, ...]
    eta_s: float | None  # the steps left at the pace of the last PACE_WINDOW steps; None before two


def path_in(run_dir: Path) -> Path:
    return run_dir / FILE


def append(run_dir: Path, step: int, total: int, detail: str | None, image: str | None) -> None:
    """Add one step's line (blocking: call it in a thread)."""
    entry = {"t": round(time.time(), 3), "step": step, "total": total, "detail": detail or "", "image": image}
    run_dir.mkdir(parents=True, exist_ok=True)
    with path_in(run_dir).open("a+b") as out:
        end = out.seek(0, 2)
        cut = end > 0 and out.seek(end - 1) >= 0 and out.read(1) != b"\n"  # a crash cut the last line short
        out.write((("\n" if cut else "") + json.dumps(entry) + "\n").encode())


def note(run_dir: Path, text: str) -> None:
    """Add a line that is not a step (the run ended, was stopped ...)."""
    append(run_dir, -1, -1, text, None)


def read(run_dir: Path, tail: int = 50) -> JournalView:
    """The run's journal: every loss, and the last `tail` lines as text (blocking: call it in a thread)."""
    losses: list[tuple[int, float]] = []
    lines: deque[str] = deque(maxlen=max(0, min(tail, MAX_LINES)))
    recent: deque[tuple[float, int]] = deque(maxlen=PACE_WINDOW)
    rate = grid = None
    step = total = 0
    try:
        handle = path_in(run_dir).open(encoding="utf-8")
    except FileNotFoundError:
        return JournalView((), None, 0, 0, None, (), None)
    with handle:
        for raw in handle:
            try:
                entry: dict[str, Any] = json.loads(raw)
            except ValueError:  # a line cut short by a crash
                continue
            detail = str(entry.get("detail", ""))
            lines.append(_text(entry, detail))
            if int(entry.get("step", -1)) < 0:
                continue
            step, total = int(entry["step"]), int(entry["total"])
            recent.append((float(entry.get("t", 0)), step))
            if found := _LOSS.search(detail):
                loss = float(found.group(1))
                if loss == loss:  # NaN: no point to draw
                    losses.append((step, loss))
            if found := _RATE.search(detail):
                rate = float(found.group(1))
            if entry.get("image"):
                grid = Path(entry["image"])
    # A resumed run repeats its steps after the checkpoint: the newest value of each step wins.
    by_step = dict(losses)
    return JournalView(tuple(sorted(by_step.items())), rate, step, total, grid, tuple(lines), _eta(recent, total))


def _eta(recent: deque[tuple[float, int]], total: int) -> float | None:
    if len(recent) < 2 or recent[-1][1] <= recent[0][1] or recent[-1][1] >= total:
        return None
    (t0, s0), (t1, s1) = recent[0], recent[-1]
    return (total - s1) * (t1 - t0) / (s1 - s0)


def _text(entry: dict[str, Any], detail: str) -> str:
    when = datetime.fromtimestamp(float(entry.get("t", 0)), UTC).strftime("%H:%M:%S")
    if int(entry.get("step", -1)) < 0:
        return f"{when} {detail}"
    return f"{when} step {entry['step']}/{entry['total']}: {detail}".rstrip(": ")
