"""How long a planned run should take here: the engine's guess, calibrated by the runs this studio measured.

The engine's guess (`TrainPlan.estimate_s`) counts the training's compute from fixed per-family figures, and knows
nothing of this machine or of what a run does besides its steps (loading the model, drawing the checkpoints'
samples, exporting). A finished run gives both: its job's wall time less the trainer's own time is the fixed
part, and the trainer's time over the guess (scaled to the steps it ran: steps × batch × pixels are in the guess)
is this machine's pace. A new plan's estimate is that fixed part plus its own guess at that pace, as a range.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import Database
from storage.records import TrainingRun
from studio.errors import StudioError
from studio.training.plans import StoredPlan

RUNS = 3  # the newest runs of the same base model that calibrate a plan
SPREAD = (0.8, 1.25)  # around the measured runs: a second run varies by a few tens of percent on a shared machine
FIRST_GUESS = (1.0, 20.0)  # no run measured: the guess is the compute alone; loading and samples add up to ~20×


@dataclass(frozen=True)
class Estimate:
    low_s: float
    high_s: float
    basis: str  # where the range comes from, as the plan says it

    @property
    def middle_s(self) -> float:
        return (self.low_s * self.high_s) ** 0.5


def _predicted(run: TrainingRun, wall_s: float, guess_s: float) -> float | None:
    """What `run`'s measurements predict for a plan guessed at `guess_s`; None when it measured nothing."""
    try:
        plan = StoredPlan.from_json(run.plan)
    except StudioError:  # a plan that cannot be read measured nothing
        return None
    result = run.result
    planned_steps = plan.config.steps
    ran = int(result.get("steps_done", 0)) - int(result.get("resumed_at") or 0)
    its_guess = plan.guess_s
    trainer_s = float(result.get("elapsed_s", 0.0))
    if ran <= 0 or planned_steps <= 0 or its_guess <= 0 or trainer_s <= 0 or wall_s <= 0:
        return None
    pace = trainer_s / (its_guess * ran / planned_steps)  # measured seconds per guessed second
    fixed_s = max(0.0, wall_s - trainer_s)
    return fixed_s + pace * guess_s


async def calibrate(db: Database, base_model: str, guess_s: float) -> Estimate:
    """The range a run guessed at `guess_s` on `base_model` should take, from the runs measured here."""
    measured = await db.training_runs.measured(base_model, RUNS)
    predicted = [p for run, wall_s in measured if (p := _predicted(run, wall_s, guess_s)) is not None]
    if not predicted:
        low, high = FIRST_GUESS
        return Estimate(guess_s * low, guess_s * high, "a first guess: no training measured here yet")
    basis = "from the last run's pace" if len(predicted) == 1 else f"from the pace of the last {len(predicted)} runs"
    return Estimate(min(predicted) * SPREAD[0], max(predicted) * SPREAD[1], basis)


def estimate_range(low_s: float, high_s: float) -> str:
    """ "~70–90 s", or "~2.5–4.0 min" (both ends in the larger unit)."""
    unit, scale = ("s", 1) if high_s < 90 else ("min", 60) if high_s < 90 * 60 else ("h", 3600)
    digits = 0 if unit == "s" else 1
    return f"~{low_s / scale:.{digits}f}–{high_s / scale:.{digits}f} {unit}"
