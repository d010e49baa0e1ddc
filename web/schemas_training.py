"""The JSON shapes of the training side: sets and their images, character sheets, plans, runs, checkpoints.

Each `of` builds the answer from the core's plain data; files are named by URL, never by path.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from studio.training.api import PlanView, RunInfo, RunView, TrainOverrides
from studio.training.results import CheckpointInfo, TrainingResult
from studio.trainsets.api import (
    MAX_CAPTION,
    MAX_ITEMS,
    MAX_TRIGGER,
    RECOMMENDED_IMAGES,
    SetVerdict,
    SheetStarted,
    TrainsetInfo,
    TrainsetItem,
)
from web.from_core import from_core

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def set_url(name: str) -> str:
    return f"/train/sets/{name}"


class TrainsetIn(BaseModel):
    name: Name
    trigger_word: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TRIGGER)] | None = None
    base_model: Name | None = None


class TrainsetOut(BaseModel):
    name: str
    owner_id: int
    size: int
    trigger_word: str | None
    base_model: str | None
    locked: bool
    active: bool
    url: str

    @classmethod
    def of(cls, info: TrainsetInfo) -> TrainsetOut:
        return from_core(cls, info, url=set_url(info.name))


class ItemOut(BaseModel):
    number: int = Field(description="its place in the set, from 1")
    image_id: int | None = Field(description="the studio image it was picked from; None for an upload")
    caption: str | None
    caption_by_member: bool
    source: str
    added_by: int
    url: str

    @classmethod
    def of(cls, set_name: str, item: TrainsetItem) -> ItemOut:
        return from_core(cls, item, url=f"/media/trainsets/{set_name}/items/{item.number}")


class FlagOut(BaseModel):
    number: int
    notes: list[str]


class VerdictOut(BaseModel):
    count: int
    min_images: int
    ready: bool
    summary: str
    flagged: list[FlagOut]
    outliers_checked: bool
    target: tuple[int, int] = RECOMMENDED_IMAGES

    @classmethod
    def of(cls, verdict: SetVerdict) -> VerdictOut:
        return from_core(cls, verdict)


class TrainsetViewOut(BaseModel):
    set: TrainsetOut
    items: list[ItemOut]
    verdict: VerdictOut


class BatchIn(BaseModel):
    image_ids: Annotated[list[int], Field(min_length=1, max_length=MAX_ITEMS)]


class BatchRefusal(BaseModel):
    image_id: int
    detail: str


class BatchOut(BaseModel):
    added: list[ItemOut]
    refused: list[BatchRefusal] = Field(description="each image not added, and why (already in the set, ...)")


class UploadsOut(BaseModel):
    added: list[ItemOut]
    refused: list[str] = Field(description="each upload not added: its file name and why")


class CaptionIn(BaseModel):
    caption: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CAPTION)]


class SheetOut(BaseModel):
    job_ids: list[int]
    groups: list[tuple[str, int]] = Field(description="(group, images) in the order they are made")
    eta_s: float | None
    method: str

    @classmethod
    def of(cls, started: SheetStarted) -> SheetOut:
        return from_core(cls, started)


class QuickSelectOut(BaseModel):
    set_name: str
    added: int
    made: int
    url: str


class PlanIn(BaseModel):
    set_name: Name
    name: Name = Field(description="the LoRA's name (name-v2 … when taken)")
    base_model: Name | None = None
    steps: Annotated[int, Field(ge=1, le=100_000)] | None = None
    rank: Annotated[int, Field(ge=1, le=1024)] | None = None
    learning_rate: Annotated[float, Field(gt=0, lt=1)] | None = None
    resolution: Annotated[int, Field(ge=64, le=4096)] | None = None
    optimizer: Name | None = None
    train_text_encoder: bool | None = None
    prior_images: Annotated[int, Field(ge=0, le=10_000)] | None = None
    force: bool = Field(False, description="the studio's owner: train on fewer images than the minimum")

    def overrides(self) -> TrainOverrides:
        """The settings chosen (None: the plan's)."""
        return TrainOverrides(
            steps=self.steps,
            rank=self.rank,
            learning_rate=self.learning_rate,
            resolution=self.resolution,
            optimizer=self.optimizer,
            train_text_encoder=self.train_text_encoder,
            prior_images=self.prior_images,
        )


class PlanRowOut(BaseModel):
    label: str
    value: str
    source: str


class PlanOut(BaseModel):
    run_id: int
    model_name: str
    requested_name: str
    set_name: str
    base_model: str
    trigger_word: str
    images: int
    samples: int
    rows: list[PlanRowOut]
    estimate_s: float
    estimate_range: tuple[float, float]
    estimate_basis: str
    disk_bytes: int
    memory_gb: float | None
    budget_gb: float | None
    set_summary: str
    weak_images: int
    below_minimum: int | None = Field(description="the set's minimum, when the owner forced a run on fewer images")
    start_url: str

    @classmethod
    def of(cls, plan: PlanView) -> PlanOut:
        return from_core(cls, plan, start_url=f"/api/training/{plan.run_id}/start")


class RunInfoOut(BaseModel):
    run_id: int
    output_name: str
    model_name: str | None
    set_name: str
    base_model: str
    status: str = Field(description="planned, queued, running, done, stopped, failed, cancelled")
    steps: int
    steps_done: int | None
    chosen_step: int | None
    best_consistency: float | None
    votes: int
    error: str | None
    interrupted: bool = Field(description="its job waits with no process to run it: POST …/resume goes on with it")
    url: str

    @classmethod
    def of(cls, info: RunInfo) -> RunInfoOut:
        return from_core(cls, info, url=f"/train/runs/{info.run_id}")


class CheckpointOut(BaseModel):
    step: int
    loss: float | None
    consistency: float | None = Field(description="how alike its samples are (-1 to 1)")
    likeness: float | None = Field(description="how like the training images its samples are")
    votes: int
    chosen: bool
    samples_url: str | None

    @classmethod
    def of(cls, run_id: int, checkpoint: CheckpointInfo) -> CheckpointOut:
        url = f"/media/training/{run_id}/pictures/{checkpoint.step}" if checkpoint.samples_path else None
        return from_core(cls, checkpoint, samples_url=url)


class RunOut(BaseModel):
    run: RunInfoOut
    job_id: int | None
    trigger_word: str | None
    step: int
    losses: list[tuple[int, float]] = Field(description="(step, loss) in step order")
    samples_per_s: float | None
    eta_s: float | None
    log: list[str]
    newest_grid_url: str | None
    scales_url: str | None
    checkpoints: list[CheckpointOut]
    events_url: str | None
    download_url: str | None

    @classmethod
    def of(cls, view: RunView) -> RunOut:
        run_id = view.info.run_id
        base = f"/media/training/{run_id}/pictures"
        return cls(
            run=RunInfoOut.of(view.info),
            job_id=view.job_id,
            trigger_word=view.trigger_word,
            step=view.step,
            losses=list(view.losses),
            samples_per_s=view.samples_per_s,
            eta_s=view.eta_s,
            log=list(view.log),
            newest_grid_url=f"{base}/newest" if view.has_newest_grid else None,
            scales_url=f"{base}/scales" if view.has_scales else None,
            checkpoints=[CheckpointOut.of(run_id, c) for c in view.checkpoints],
            events_url=f"/api/jobs/{view.job_id}/events" if view.job_id else None,
            download_url=f"/api/training/{run_id}/download" if view.info.model_name else None,
        )


class ChooseIn(BaseModel):
    step: Annotated[int, Field(ge=1)]


class ChosenOut(BaseModel):
    model_name: str | None
    chosen_step: int | None
    test_url: str | None

    @classmethod
    def of(cls, result: TrainingResult) -> ChosenOut:
        chosen = next((c.step for c in result.checkpoints if c.chosen), None)
        name = result.model_name
        return cls(model_name=name, chosen_step=chosen, test_url=f"/models/{name}/test" if name else None)


class LogOut(BaseModel):
    lines: list[str]
