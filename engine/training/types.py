"""What a training run is given and gives back: plain, picklable data (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.catalog import ModelSpec
from engine.work import OutputFile

SAMPLE_SCALES = (0.8, 1.0, 1.2)  # the reference workflow's range for a character LoRA


@dataclass(frozen=True)
class TrainItem:
    """One training image and its caption (the trigger word already in front)."""

    path: Path
    caption: str


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every value is concrete (the services fill them from the model's preset and the GPU)."""

    steps: int
    rank: int = 16
    alpha: float = 16.0
    learning_rate: float = 1e-4
    batch_size: int = 1
    grad_accum: int = 1
    resolution: int = 512
    seed: int = 0
    warmup_steps: int = 10
    noise_offset: float = 0.05  # trainer notes §1: the usual 0.05-0.1
    min_snr_gamma: float | None = 5.0  # Min-SNR weighting; None: plain MSE
    caption_dropout: float = 0.1  # the share of samples trained on the empty caption
    optimizer: str = "adamw"  # adamw | adamw8bit (CUDA with bitsandbytes) | prodigy
    mixed_precision: str = "no"  # no | bf16 | fp16 (the LoRA itself always trains in fp32)
    gradient_checkpointing: bool = False
    text_encoder_offload: bool = False  # FLUX: T5 waits in host memory once the captions are encoded (GPU short)
    train_text_encoder: bool = False  # a LoRA on the text encoder too (SD 1.5): captions are encoded every step
    text_encoder_lr: float | None = None  # None: half the learning rate
    checkpoint_every: int = 0  # steps; 0: every quarter of the run
    sample_prompts: tuple[str, ...] = ()  # drawn at each checkpoint with fixed seeds
    sample_steps: int = 20
    # Prior preservation: `prior_images` images the base model draws from `prior_prompts` (empty: the captions
    # without the trigger word) before the first step, trained beside the set with loss weight `prior_weight`.
    prior_images: int = 0
    prior_weight: float = 1.0
    prior_prompts: tuple[str, ...] = ()
    max_grad_norm: float = 1.0

    @property
    def te_lr(self) -> float:
        return self.text_encoder_lr if self.text_encoder_lr is not None else self.learning_rate / 2

    @property
    def every(self) -> int:
        return self.checkpoint_every or max(1, self.steps // 4)

    @property
    def warmup(self) -> int:
        """Warm-up steps the run uses: `warmup_steps`, but at most a tenth of the run (steps // 10), so a short run
        still spends most of its steps at the full learning rate (a 6-step run has none)."""
        return min(self.warmup_steps, self.steps // 10)


@dataclass(frozen=True)
class TrainTask:
    """A training run as a work order's request."""

    model: ModelSpec
    items: tuple[TrainItem, ...]
    config: TrainConfig
    run_dir: Path  # checkpoints and samples; a run resumes from the newest complete checkpoint here
    adapter: str  # the adapter's name in the pipeline while it trains ("job_12": never "train")
    output_name: str  # shown by other tools (ss_output_name, modelspec.title)
    trigger_word: str | None = None
    lineage: dict[str, str] = field(default_factory=dict)  # the studio's own metadata: set, images, pickers


@dataclass(frozen=True)
class Checkpoint:
    step: int
    lora: OutputFile  # diffusers-format LoRA of that step
    samples: OutputFile | None  # a grid of the fixed-seed samples
    loss: float  # mean training loss of the steps since the previous checkpoint
    consistency: float | None = None  # mean pairwise similarity of the samples (image embeddings)
    likeness: float | None = None  # mean similarity of the samples to the training set's centre


@dataclass(frozen=True)
class TrainOutcome:
    """A run that ended (or was stopped, after saving a checkpoint)."""

    steps_done: int
    total_steps: int
    losses: tuple[float, ...]  # one per optimizer step, from step 1, the resumed part included
    checkpoints: tuple[Checkpoint, ...]
    lora: OutputFile  # diffusers format, the last checkpoint's weights, with the metadata other tools read
    kohya: OutputFile  # the same weights in the kohya layout A1111 and ComfyUI load
    loss_plot: OutputFile | None
    scales: OutputFile | None = None  # the first sample prompt at LoRA scales SAMPLE_SCALES, side by side
    stopped: bool = False  # cancelled (or the bot stopped): the last checkpoint is where it got to
    resumed_at: int | None = None
    elapsed_s: float = 0.0
