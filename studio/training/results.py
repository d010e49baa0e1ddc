"""What a training run shows in Discord and the terminal: plain data, rendered by the adapters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.contract import Deliverable


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint as users compare them: its step, loss, scores, 👍 votes and sample grid."""

    id: int
    step: int
    loss: float | None
    consistency: float | None  # mean pairwise similarity of its samples (-1 to 1; higher: more alike)
    likeness: float | None  # mean similarity of its samples to the training images
    votes: int
    samples_path: Path | None
    chosen: bool = False  # the registered model uses this one


@dataclass(frozen=True)
class TrainingResult(Deliverable):
    """The end of a run: the model it registered (or the checkpoint it stopped at), samples and files."""

    run_id: int
    job_id: int
    requester_id: int | None
    output_name: str
    model_name: str | None  # None: stopped before the end, not registered (yet)
    base_model: str
    trigger_word: str | None
    stopped: bool
    steps_done: int
    total_steps: int
    elapsed_s: float
    resumed_at: int | None
    final_loss: float | None
    checkpoints: tuple[CheckpointInfo, ...]
    scales_path: Path | None  # the first sample prompt at LoRA scales 0.8, 1.0 and 1.2
    loss_plot_path: Path | None
    kohya_path: Path | None  # the file A1111 and ComfyUI load (the Download button)


@dataclass(frozen=True)
class CheckpointPost(Deliverable):
    """A checkpoint's sample grid, posted on its own so that members can vote on it with 👍."""

    run_id: int
    output_name: str
    number: int  # 1-based, in step order
    of: int
    checkpoint: CheckpointInfo
