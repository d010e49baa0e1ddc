"""What the Discord layer and the CLI may ask of LoRA training, and what they get back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from studio.contract import Caller, JobTicket
from studio.errors import Refused
from studio.training.results import CheckpointInfo, TrainingResult

# Where a plan's value came from, as the plan shows it.
SOURCE_LABELS = {
    "preset": "model preset",
    "memory": "sized to GPU memory",
    "you": "you",
    "set": "set size",
    "engine": "the engine's precision",
    "optimizer": "the optimizer's default",
    "worker": "the smallest engine worker",
}


class TooFewImages(Refused):
    """A plan refused only for the set's size: `forceable` when the caller may train on it anyway (`force`)."""

    def __init__(self, message: str, *, images: int, minimum: int, forceable: bool) -> None:
        super().__init__(message)
        self.images = images
        self.minimum = minimum
        self.forceable = forceable


@dataclass(frozen=True)
class TrainOverrides:
    """The settings a member may choose for a run; None leaves it to the plan (the model's preset, the set's size,
    the GPU's memory). A new option is a field here, a field the engine's `plan_training` takes, and the front
    doors' parameter for it."""

    steps: int | None = None
    rank: int | None = None
    learning_rate: float | None = None
    resolution: int | None = None
    optimizer: str | None = None  # adamw | adamw8bit | prodigy
    train_text_encoder: bool | None = None
    prior_images: int | None = None  # 0: off

    def chosen(self) -> dict[str, Any]:
        """The options as the engine's plan takes them (None: not chosen)."""
        return asdict(self)


AUTO = TrainOverrides()  # every setting left to the plan


@dataclass(frozen=True)
class PlanRow:
    label: str
    value: str
    source: str  # one of SOURCE_LABELS' values


@dataclass(frozen=True)
class PlanView:
    """A run's plan before it starts: shown with Start and Cancel buttons."""

    run_id: int
    model_name: str  # what it will be registered as (the name asked for, or name-v2 when taken)
    requested_name: str
    set_name: str
    base_model: str
    trigger_word: str
    images: int
    samples: int
    rows: tuple[PlanRow, ...]
    estimate_s: float
    disk_bytes: int
    memory_gb: float | None
    budget_gb: float | None
    set_summary: str  # the checks' one-line verdict
    weak_images: int
    below_minimum: int | None = None  # the set's minimum, when the owner forced a run on fewer images
    estimate_range: tuple[float, float] = (0.0, 0.0)  # seconds, low and high; `estimate_s` lies between
    estimate_basis: str = ""  # "from the last run's pace", or "a first guess: ..."


@dataclass(frozen=True)
class RunInfo:
    """A run as /train status and /train list show it."""

    run_id: int
    output_name: str
    model_name: str | None
    set_name: str
    base_model: str
    requester_id: int | None
    status: str  # queued, running, done, stopped, failed, cancelled
    steps: int
    steps_done: int | None
    chosen_step: int | None
    best_consistency: float | None
    votes: int
    error: str | None = None
    interrupted: bool = False  # its job waits with no process to run it: `resume` goes on from the last checkpoint


@dataclass(frozen=True)
class RunView:
    """One run as its page follows it: the row, the journal (loss by step, pace, log tail), and once it ended its
    checkpoints with their scores and votes. Pictures are fetched with `TrainingApi.picture`."""

    info: RunInfo
    job_id: int | None
    trigger_word: str | None
    step: int  # the newest step the engine reported (0: not started)
    losses: tuple[tuple[int, float], ...]  # (step, loss), in step order
    samples_per_s: float | None
    eta_s: float | None  # from the pace so far; None before two steps, and once it ended
    log: tuple[str, ...]  # the journal's last lines, oldest first
    has_newest_grid: bool  # a checkpoint's sample grid exists (picture "newest")
    has_scales: bool  # the end's grid of one prompt at LoRA scales 0.8, 1.0, 1.2 (picture "scales")
    checkpoints: tuple[CheckpointInfo, ...]  # stored when the run ends


PICTURES = ("newest", "scales")  # besides a checkpoint's step: the newest sample grid, the scales grid
DOWNLOADS = ("kohya", "diffusers")  # what AUTOMATIC1111 and ComfyUI load; what the studio loads


class TrainingApi(Protocol):
    """LoRA training. Refusals are StudioErrors that say what to do."""

    async def plan(
        self,
        caller: Caller,
        set_name: str | None,
        output_name: str,
        overrides: TrainOverrides = AUTO,
        *,
        base_model: str | None = None,
        force: bool = False,
    ) -> PlanView:
        """Check the set and store the run's plan; `force`: the owner trains on fewer images than the minimum."""
        ...

    async def start(self, caller: Caller, run_id: int) -> JobTicket: ...

    async def resume(self, caller: Caller, run_id: int) -> JobTicket:
        """Go on with an interrupted run (its job left queued, run by no process) from its last checkpoint, here."""
        ...

    async def drop(self, caller: Caller, run_id: int) -> None: ...

    async def cancel(self, caller: Caller, run_id: int | None = None) -> RunInfo: ...

    async def status(self, caller: Caller) -> list[RunInfo]: ...

    async def list(self, caller: Caller) -> list[RunInfo]: ...

    async def result(self, caller: Caller, run_id: int) -> TrainingResult: ...

    async def choose(self, caller: Caller, run_id: int, step: int) -> TrainingResult: ...

    async def vote(self, message_id: int, user_id: int, *, up: bool) -> bool: ...

    async def download(self, caller: Caller, run_id: int, fmt: str = "kohya") -> Path:
        """The file of the run's model in `fmt` (one of DOWNLOADS)."""
        ...

    async def run(self, caller: Caller, run_id: int, tail: int = 50) -> RunView:
        """One run of the caller's server (any for the owner), with the last `tail` lines of its journal."""
        ...

    async def picture(self, caller: Caller, run_id: int, which: str | int) -> Path:
        """A picture of the run: a checkpoint's sample grid by step, or one of PICTURES."""
        ...
