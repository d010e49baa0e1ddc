"""Benchmark the studio's LoRA trainer against a plain loop of the diffusers reference recipe on the same model.

Both sides train a LoRA on the same model, images, captions and settings (rank, alpha, learning rate, batch,
resolution, warm-up, noise offset, Min-SNR, caption dropout, gradient clipping, AdamW) in one process:
- trainer: `engine.tasks.train.run`, the studio's own path (latents and text encodings cached once, fused AdamW
  on CUDA), with no checkpoint samples and one checkpoint at the end;
- reference: what diffusers' examples/text_to_image LoRA scripts do each step, written plainly here: VAE-encode
  the batch, encode the prompts with the text encoder(s), add noise, UNet forward, MSE loss, backward, AdamW.
samples/s comes from each side's per-step timestamps, leaving out the first `--warmup` steps; peak memory is the
most either side adds while it runs, its model's weights included (measured as `bench_train_measure.PeakMemory` says).

CPU mode (default): tiny-sd and tiny-sdxl at 64 px, batch 2, 30 steps, one torch thread; each side runs
`--repeats` times, alternating which goes first, and the median is reported.
GPU mode (--gpu): full-size SD 1.5 at 512² and SDXL at 1024² with random weights (no download), bf16 frozen
weights and fp32 LoRA, each side once; also prints the projected time of a 2000-sample run.

Usage: .venv/bin/python scripts/bench_train.py [--gpu] [--steps N] [--repeats N] [--models tiny-sd,tiny-sdxl]
"""

from __future__ import annotations

import os

# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine waiting OpenMP workers make
# every call slower: one thread unless told otherwise (before torch is imported). GPU mode raises it again.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import logging
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from bench_train_measure import (  # scripts/ is on sys.path
    Setting,
    Side,
    StepClock,
    synthetic_images,
    time_side,
    train_config,
)
from bench_train_reference import run_reference

from engine.backends.base import WorkContext
from engine.catalog import ModelSpec, family_preset, get_preset
from engine.diffusion.pipelines import PipelineManager
from engine.host import EngineConfig, EngineHost
from engine.tasks import train
from engine.tiny.models import ensure_tiny_folder
from engine.training.recipes import UNET_TARGETS
from engine.training.types import TrainConfig, TrainItem, TrainTask
from engine.work import WorkOrder

TARGET_SAMPLES = 2000  # the goal's run: 2000 samples (25 images × 80)

CPU_SETTINGS = {
    "tiny-sd": Setting("tiny-sd", 64, 2, 30, 6),
    "tiny-sdxl": Setting("tiny-sdxl", 64, 2, 30, 6),
}
# 24 images rather than the goal's 25 so that every batch is full (a partial batch would blur samples/s).
GPU_SETTINGS = {
    "sd15": Setting("sd15", 512, 4, 40, 24),
    "sdxl": Setting("sdxl", 1024, 2, 30, 24),
}


# --- The studio's trainer -----------------------------------------------------------------------------------


class _BenchHost(EngineHost):
    """An engine host without an image embedder: the run draws no samples, so it scores none."""

    def embedder(self) -> Any:
        return None


def run_trainer(
    spec: ModelSpec, cfg: TrainConfig, items: tuple[TrainItem, ...], manager: PipelineManager, run_dir: Path
) -> Callable[[StepClock], float]:
    def run(clock: StepClock) -> float:
        host = _BenchHost(EngineConfig(), manager_factory=lambda: manager)
        manager.pipeline(spec)  # the weights are loaded before the run, as in the bot
        clock.begin()
        ctx = WorkContext(1, threading.Event(), lambda event: clock.tick(event.step))
        task = TrainTask(spec, items, cfg, run_dir, "job_bench", "bench")
        outcome = train.run(WorkOrder(1, "train", task), ctx, host)
        return outcome.losses[-1]

    return run


# --- One model, both sides ----------------------------------------------------------------------------------


@dataclass
class Model:
    """Where a model's weights are: its spec for the trainer's manager, its folder for the plain pipeline."""

    spec: ModelSpec
    folder: Path
    cache: Path  # the manager's cache folder (built-in models live under it)


def bench_model(
    model: Model,
    setting: Setting,
    device: torch.device,
    dtype: torch.dtype,
    work: Path,
    *,
    repeats: int,
    warmup: int,
    compile_unet: bool,
    warm_run: bool,
) -> tuple[list[Side], list[Side]]:
    """Each side `repeats` times, alternating which goes first; returns (trainer runs, reference runs)."""
    items = synthetic_images(work / f"images-{setting.model}", setting)
    family = model.spec.family
    runs: dict[str, list[Side]] = {"trainer": [], "reference": []}
    counter = iter(range(10**6))
    switching: list[float] = []

    def one(name: str, cfg: TrainConfig) -> Side:
        if name == "trainer":
            manager = PipelineManager(device, dtype, cache_dir=model.cache, optimize=compile_unet)
            run_dir = work / f"run-{setting.model}-{next(counter)}"  # a fresh folder: nothing to resume
            try:
                side = time_side(name, device, setting, warmup, run_trainer(model.spec, cfg, items, manager, run_dir))
                if not switching and cfg.steps == setting.steps:  # once, untimed, on the UNet the run used
                    switching.append(switching_ms(manager.pipeline(model.spec).unet, cfg))
                return side
            finally:
                manager.unload_all()
        try:
            return time_side(
                name, device, setting, warmup, run_reference(model.folder, family, cfg, items, device, dtype)
            )
        finally:
            gc.collect()  # the plain pipeline is dropped with its run
            if device.type == "cuda":
                torch.cuda.empty_cache()

    if warm_run:  # imports, allocator pools and kernels first, so that neither side pays them in the figures
        short = train_config(replace(setting, steps=warmup + 1), model.spec, warmup + 1)
        for name in ("trainer", "reference"):
            one(name, short)
    cfg = train_config(setting, model.spec, setting.steps)
    for repeat in range(repeats):
        for name in ("reference", "trainer") if repeat % 2 == 0 else ("trainer", "reference"):
            side = one(name, cfg)
            runs[name].append(side)
            print(
                f"  {name:9} run {repeat + 1}: {side.samples_per_s:7.2f} samples/s, peak +{_mib(side.peak_bytes):7.1f}"
                f" MiB, whole run {side.wall_s:6.1f} s (of which {side.fixed_s:5.1f} s once), loss {side.loss:.4f}",
                flush=True,
            )
            if name == "trainer" and repeat == 0:
                step_ms = 1000 * setting.batch / side.samples_per_s
                print(
                    f"    a step after another job used the pipeline pays {switching[0]:.1f} ms more"
                    f" ({switching[0] / step_ms:.0%} of its {step_ms:.0f} ms) to walk the UNet's modules"
                    " (adapter re-activation, train()/eval()); other steps skip it",
                    flush=True,
                )
    return runs["trainer"], runs["reference"]


def switching_ms(unet: Any, cfg: TrainConfig, rounds: int = 5) -> float:
    """What the trainer pays on a step after another job used the pipeline, in walks over every module of the
    UNet in Python: enable_adapters and set_adapters (Trainer.activate_adapter), unet.train() before the step,
    unet.eval() before the other job, and reading unet.dtype (diffusers looks for hooks on every module; the trainer
    reads it once per run). Steps with nothing in between skip them. Measured on a throw-away adapter of the run's
    shape."""
    from peft import LoraConfig

    config = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, target_modules=list(UNET_TARGETS))
    unet.add_adapter(config, adapter_name="probe")
    try:

        def once() -> None:
            unet.enable_adapters()
            unet.set_adapters(["probe"], weights=[1.0])
            unet.train()
            unet.eval()
            _ = unet.dtype

        once()
        started = time.perf_counter()
        for _ in range(rounds):
            once()
        return (time.perf_counter() - started) / rounds * 1000
    finally:
        unet.delete_adapters(["probe"])


def _mib(n: int) -> float:
    return n / 2**20


def _median_side(sides: list[Side]) -> Side:
    chosen = sorted(sides, key=lambda s: s.samples_per_s)[len(sides) // 2]
    return replace(chosen, peak_bytes=int(statistics.median(s.peak_bytes for s in sides)))


def report(rows: list[tuple[Setting, Side, Side]], gpu: bool) -> None:
    print()
    head = f"{'model':10} {'side':10} {'samples/s':>10} {'peak MiB':>10} {'trainer/ref':>12}"
    if gpu:
        head += f" {f'{TARGET_SAMPLES} samples':>15}"
    print(head)
    for setting, trainer, reference in rows:
        ratio = trainer.samples_per_s / reference.samples_per_s
        for side in (trainer, reference):
            line = f"{setting.model:10} {side.name:10} {side.samples_per_s:10.2f} {_mib(side.peak_bytes):10.1f}"
            line += f" {f'{ratio:.3f}' if side is trainer else '':>12}"
            if gpu:
                line += f" {side.projected_s(TARGET_SAMPLES) / 60:12.1f} min"
            print(line)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"(process peak resident set, ru_maxrss: {rss:.0f} MiB)", flush=True)


# --- Modes --------------------------------------------------------------------------------------------------


def _run(settings: list[Setting], models: Callable[[Setting, Path], Model], device: torch.device, args: Any) -> None:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for setting in settings:
            model = models(setting, work)
            print(
                f"{setting.model} on {_device_name(device)}: {setting.resolution}², batch {setting.batch}, "
                f"{setting.steps} steps ({args.warmup} untimed), {setting.images} images, {dtype}"
                + (", gradient checkpointing" if setting.gradient_checkpointing else "")
                + (", trainer's UNet compiled" if args.compile else ""),
                flush=True,
            )
            trainer, reference = bench_model(
                model,
                setting,
                device,
                dtype,
                work,
                repeats=args.repeats,
                warmup=args.warmup,
                compile_unet=args.compile,
                warm_run=device.type == "cpu",
            )
            best_t, best_r = _median_side(trainer), _median_side(reference)
            rows.append((setting, best_t, best_r))
            pairs = ", ".join(
                f"{t.samples_per_s / r.samples_per_s:.2f}" for t, r in zip(trainer, reference, strict=True)
            )
            line = f"  trainer/reference: {best_t.samples_per_s / best_r.samples_per_s:.3f} (run by run: {pairs})"
            if device.type == "cuda":
                line += (
                    f"; a {TARGET_SAMPLES}-sample run: trainer {best_t.projected_s(TARGET_SAMPLES) / 60:.1f} min, "
                    f"reference {best_r.projected_s(TARGET_SAMPLES) / 60:.1f} min"
                )
            print(line, flush=True)
    report(rows, device.type == "cuda")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} torch thread{'s' if torch.get_num_threads() > 1 else ''})"


def _tiny_model(setting: Setting, work: Path) -> Model:
    cache = work / "cache"
    folder = ensure_tiny_folder(setting.model, cache / "builtin")
    return Model(ModelSpec.from_preset(get_preset(setting.model)), folder, cache)


def _full_size_model(setting: Setting, work: Path) -> Model:
    import diffusers
    import transformers
    from bench_engine import _full_size_pipeline  # scripts/ is on sys.path when this file runs as a script

    # Import the classes the build uses before the device context below: some modules make tensors when they
    # are imported (diffusers and transformers import lazily), and those must stay on the CPU.
    for module, names in (
        (diffusers, ("AutoencoderKL", "EulerDiscreteScheduler", "StableDiffusionPipeline", "UNet2DConditionModel")),
        (diffusers, ("StableDiffusionXLPipeline",)),
        (transformers, ("CLIPTextConfig", "CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer")),
    ):
        for name in names:
            getattr(module, name)
    started = time.perf_counter()
    try:
        with torch.device("cuda"):  # random initialisation on the GPU: SDXL's 3.5 G values take a minute on a CPU
            folder = _full_size_pipeline(setting.model, work, torch.bfloat16)
    except Exception as exc:  # any failure here: the slow way still works
        print(f"(building {setting.model} on the GPU failed, {exc!r}: building it on the CPU)", flush=True)
        folder = _full_size_pipeline(setting.model, work, torch.bfloat16)
    gc.collect()
    torch.cuda.empty_cache()
    print(f"(built random {setting.model} in {time.perf_counter() - started:.0f} s)", flush=True)
    spec = ModelSpec(f"random-{setting.model}", setting.model, str(folder), family_preset(setting.model))
    return Model(spec, folder, work / "cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="full-size random SD 1.5 (512²) and SDXL (1024²) on CUDA")
    parser.add_argument("--models", default=None, help="default: tiny-sd,tiny-sdxl on CPU, sd15,sdxl on GPU")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: 30; 40 and 30 on GPU)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: 2 on CPU; 4 and 2 on GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="first steps left out (default 2; 5 with --compile)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side (default: 3 on CPU, 1 on GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on CPU, all on GPU)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="the trainer's manager with optimize=True (channels_last; torch.compile of the UNet on CUDA, "
        "max-autotune: minutes of compiling); the reference stays eager",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device")
        device, table, build = torch.device("cuda"), GPU_SETTINGS, _full_size_model
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    else:
        device, table, build = torch.device("cpu"), CPU_SETTINGS, _tiny_model
        torch.set_num_threads(args.threads or 1)
    args.repeats = args.repeats or (1 if args.gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if args.compile else 2)
    names = (args.models or ",".join(table)).split(",")
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    settings = []
    for name in names:
        setting = table[name]
        if args.steps:
            setting = replace(setting, steps=args.steps)
        if args.batch:
            setting = replace(setting, batch=args.batch, images=max(setting.images // args.batch, 1) * args.batch)
        if args.gradient_checkpointing:
            setting = replace(setting, gradient_checkpointing=True)
        settings.append(setting)
    _run(settings, build, device, args)


if __name__ == "__main__":
    main()
