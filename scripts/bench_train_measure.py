"""How the LoRA training benchmark measures one side: its settings, peak memory, step times, synthetic images."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.catalog import ModelSpec
from engine.training.types import TrainConfig, TrainItem


@dataclass(frozen=True)
class Setting:
    """One model's benchmark: `images` synthetic square images, all in one bucket (every batch full)."""

    model: str  # a tiny model's name, or the family of a full-size random one
    resolution: int
    batch: int
    steps: int
    images: int
    gradient_checkpointing: bool = False


@dataclass
class Side:
    """One run of one side: its steady speed, its peak memory and what the whole run took."""

    name: str  # trainer | reference
    samples_per_s: float
    peak_bytes: int
    wall_s: float  # the whole run: data preparation, warm-up steps, checkpoint and export included
    fixed_s: float  # wall_s less the steps at the steady rate: what a run pays once
    loss: float  # the last step's

    def projected_s(self, samples: int) -> float:
        return self.fixed_s + samples / self.samples_per_s


# --- Measuring ----------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    """Hand freed heap back to the system, so that the next side's resident-set baseline is its own."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """The most memory a block adds: on CUDA `max_memory_allocated` above what was allocated at its start; on
    the CPU the resident set size (/proc/self/statm, sampled every 5 ms by a thread) above its value at the
    start, after freed heap is handed back (malloc_trim). Not tracemalloc: torch's buffers are not Python's."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            _malloc_trim()
            self.base = self.peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())

    @property
    def added(self) -> int:
        return self.peak - self.base


class StepClock:
    """Per-step end times (the device synchronised first); samples/s over the steps after `warmup`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.began = 0.0
        self.stamps: dict[int, float] = {}

    def begin(self) -> None:
        """The run starts now: its model is loaded (its memory counts, the loading time does not)."""
        _sync(self.device)
        self.began = time.perf_counter()

    def tick(self, step: int) -> None:
        _sync(self.device)
        self.stamps[step] = time.perf_counter()

    def rate(self, warmup: int, batch: int) -> float:
        last = max(self.stamps)
        if last <= warmup:
            raise SystemExit(f"--steps must be more than --warmup ({warmup}) to time anything")
        return (last - warmup) * batch / (self.stamps[last] - self.stamps[warmup])


def time_side(
    name: str, device: torch.device, setting: Setting, warmup: int, run: Callable[[StepClock], float]
) -> Side:
    clock = StepClock(device)
    with PeakMemory(device) as memory:
        loss = run(clock)
        _sync(device)
        wall = time.perf_counter() - clock.began
    rate = clock.rate(warmup, setting.batch)
    fixed = wall - setting.steps * setting.batch / rate
    return Side(name, rate, memory.added, wall, fixed, loss)


# --- The data -----------------------------------------------------------------------------------------------


def synthetic_images(folder: Path, setting: Setting) -> tuple[TrainItem, ...]:
    """One 'character' (a warm disc on a cool ground, a little noise), moved a bit in each square image."""
    folder.mkdir(parents=True, exist_ok=True)
    size = setting.resolution
    yy, xx = np.mgrid[:size, :size] / size
    items = []
    for i in range(setting.images):
        rng = np.random.default_rng(i)
        disc = (yy - 0.5) ** 2 + (xx - 0.4 - 0.01 * i) ** 2 < 0.28**2
        pixels = np.where(disc[..., None], [230, 140, 60], [40, 70, 160]) + rng.normal(0, 6, (size, size, 3))
        path = folder / f"{i:02d}.png"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, compress_level=1)
        items.append(TrainItem(path, f"zzchar, a round figure, view {i}"))
    return tuple(items)


def train_config(setting: Setting, spec: ModelSpec, steps: int) -> TrainConfig:
    """The settings both sides use: the model preset's rank, alpha and learning rate, the trainer's defaults
    for the rest (warm-up 10, noise offset 0.05, Min-SNR 5, caption dropout 0.1, gradient norm 1.0)."""
    preset = spec.preset.training
    return TrainConfig(
        steps=steps,
        rank=preset.rank,
        alpha=float(preset.alpha),
        learning_rate=preset.learning_rate,
        batch_size=setting.batch,
        resolution=setting.resolution,
        seed=0,
        gradient_checkpointing=setting.gradient_checkpointing,
        checkpoint_every=steps,  # one checkpoint, after the last timed step
        sample_prompts=(),  # no samples drawn: only training is timed
    )
