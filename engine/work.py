"""What crosses the engine seam: work orders in, outcomes out. Plain, picklable data only.

A `WorkOrder` names an engine task (`engine.tasks`), carries its typed request and the files it reads,
and says where its files go. An outcome lists the files the task wrote, each with its hash, so the
services can record them without reading them back. Nothing here holds a lock, a pipeline or an
image: an order can go to another thread, process or machine, and come back the same (tested with
`pickle`). No torch or PIL here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.catalog import ModelSpec
from engine.types import GenerateRequest, ResolvedParams

if TYPE_CHECKING:  # engine.training.types imports this module: its config is named here, not imported
    from engine.training.types import TrainConfig

# Roles of the files an order reads (its `inputs`) and a job writes (recorded in the job_files table).
SOURCE, MASK = "source", "mask"


@dataclass(frozen=True)
class WorkOrder:
    """One job's work for the engine: the task to run, its request, its input files, its output folder."""

    job_id: int
    task: str  # an engine task name: generate, describe, compose (later train, sheet)
    request: object  # the task's frozen request dataclass
    inputs: Mapping[str, Path] = field(default_factory=dict)  # role → file the task reads
    out_dir: Path | None = None  # where the task writes its files

    def input(self, role: str) -> Path | None:
        return self.inputs.get(role)

    def require_out_dir(self) -> Path:
        if self.out_dir is None:
            raise ValueError(f"order for job {self.job_id} ({self.task}) has no output folder")
        return self.out_dir


# -- task requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateTask:
    """txt2img, or img2img / inpaint from the order's `source` (and `mask`) inputs."""

    request: GenerateRequest  # with every value resolved; init_image and mask_image stay None here
    model: ModelSpec


@dataclass(frozen=True)
class DescribeTask:
    """Caption the order's `source` image and read its pixels into `count` candidate prompts."""

    count: int
    for_model: str | None = None  # the base model (preset id) the prompts are for: it may have its own captioner


@dataclass(frozen=True)
class ComposeTask:
    """/vary and /edit: caption the `source`, compose the output prompt from the instruction, then generate.

    With a `region` (and no `mask` input) the mask is found from the words first.
    """

    generate: GenerateTask
    instruction: str
    region: str | None = None
    strength: float | None = None  # None: the composer's suggestion (img2img only)
    trigger_word: str | None = None


# -- outcomes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFile:
    """A file a task wrote, with what the services record about it."""

    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class OutputImage:
    index: int
    seed: int
    file: OutputFile
    width: int
    height: int


@dataclass(frozen=True)
class ImagesOutcome:
    """What a generation left on disk, with the parameters that made it."""

    params: ResolvedParams
    images: tuple[OutputImage, ...]
    grid: OutputFile | None
    elapsed_s: float


@dataclass(frozen=True)
class DescribeOutcome:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class ComposeOutcome:
    """A /vary or /edit generation, and what the engine decided on the way."""

    images: ImagesOutcome
    prompt: str  # the composer's output prompt
    full_prompt: str  # with the model's trigger word
    negative: str
    description: str  # the caption the prompt was composed from
    # "rewriter": the language model's version was accepted; "kontext": the instruction went to FLUX.1 Kontext as is
    prompt_source: str = "composer"
    mask: OutputFile | None = None  # a mask found from the region's words
    overlay: OutputFile | None = None  # the mask drawn over the image, shown to the user


# -- training-set checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSetTask:
    """Check a training set's images (the order's request); paths in the set's order, numbered from 1."""

    paths: tuple[Path, ...]
    resolution: int  # the base model's training resolution: a smaller image is flagged
    model: str | None = None  # the base model's preset id: a model with its own image embedder (tiny-world) uses it


@dataclass(frozen=True)
class ImageFinding:
    """What the checks found in one image of the set."""

    number: int  # 1-based place in the set
    codes: tuple[str, ...]  # machine codes from: unreadable, small, duplicate, blurry, dark, bright, flat, outlier
    notes: tuple[str, ...]  # one short human sentence per code, e.g. "near-duplicate of #3"


@dataclass(frozen=True)
class CheckOutcome:
    """A set check: one finding per image, in order (codes empty when the image is fine)."""

    findings: tuple[ImageFinding, ...]
    embedder: str | None  # the embedder used for outliers, None when outliers were not checked


@dataclass(frozen=True)
class CaptionTask:
    """Caption images for a training set (short captions), in order."""

    paths: tuple[Path, ...]


@dataclass(frozen=True)
class CaptionOutcome:
    paths: tuple[Path, ...]
    captions: tuple[str | None, ...]  # one per path; None for an image that could not be read


@dataclass(frozen=True)
class SheetTask:
    """One group of a character sheet: a panel per image, each image-to-image from the `source` reference.

    Each panel's prompt is the reference's caption with the panel's words ("left profile", "in a café").
    """

    generate: GenerateTask  # count 1; its seed is panel 1's, panel i uses seed + i - 1
    panels: tuple[str, ...]
    trigger_word: str | None = None
    description: str | None = None  # what the reference shows; None: caption it


@dataclass(frozen=True)
class SheetOutcome:
    images: ImagesOutcome  # image i is panel i; `params` are panel 1's
    prompts: tuple[str, ...]  # the prompt of each image
    description: str  # the caption of the reference the prompts start from
    method: str = "img2img"  # or "kontext": each panel an instruction to FLUX.1 Kontext on the reference
    # Each panel's cosine to the reference by the base model's image embedder, and how many read as the same
    # character by its calibrated threshold; None when there is no embedder, or it has no such threshold.
    identity: tuple[float, ...] | None = None
    identity_kept: int | None = None


# -- exports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportTask:
    """A training checkpoint's LoRA as the files other tools read, written into the order's `out_dir`:
    `<name>.safetensors` (diffusers layout) and `<name>_kohya.safetensors` (A1111, ComfyUI)."""

    lora: Path  # the checkpoint's LoRA (peft tensors)
    template: Path  # the run's own diffusers export: the header the files start from
    name: str  # ss_output_name, and the files' stem
    step: int  # the checkpoint's step (ss_steps)
    config: TrainConfig  # the run's settings: alpha, rank, resolution travel with the files
    family: str  # the base model's family: the keys' layout


@dataclass(frozen=True)
class ExportOutcome:
    diffusers: OutputFile
    kohya: OutputFile
