"""Benchmark the studio's LoRA trainer against a plain loop of the diffusers reference recipe on the same model.

Both sides train a LoRA on the same model, images, captions and settings (rank, alpha, learning rate, batch,
resolution, warm-up, noise offset, Min-SNR, caption dropout, gradient clipping, AdamW) in one process:
- trainer: `engine.tasks.train.run`, the studio's own path (latents and text encodings cached once, fused AdamW
  on CUDA), with no checkpoint samples and one checkpoint at the end;
- reference: what diffusers' examples/text_to_image LoRA scripts do each step, written plainly here: VAE-encode
  the batch, encode the prompts with the text encoder(s), add noise, UNet forward, MSE loss, backward, AdamW.
samples/s comes from each side's per-step timestamps, leaving out the first `--warmup` steps; peak memory is the
most either side adds while it runs, its model's weights included (measured as `PeakMemory` says).

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
import contextlib
import ctypes
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

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.backends.base import WorkContext
from engine.catalog import ModelSpec, family_preset, get_preset
from engine.diffusion.loading import load_folder
from engine.diffusion.pipelines import PipelineManager
from engine.host import EngineConfig, EngineHost
from engine.tasks import train
from engine.tiny.models import ensure_tiny_folder
from engine.training.recipes import UNET_TARGETS
from engine.training.types import TrainConfig, TrainItem, TrainTask
from engine.work import WorkOrder

TARGET_SAMPLES = 2000  # the goal's run: 2000 samples (25 images × 80)


@dataclass(frozen=True)
class Setting:
    """One model's benchmark: `images` synthetic square images, all in one bucket (every batch full)."""

    model: str  # a tiny model's name, or the family of a full-size random one
    resolution: int
    batch: int
    steps: int
    images: int
    gradient_checkpointing: bool = False


CPU_SETTINGS = {
    "tiny-sd": Setting("tiny-sd", 64, 2, 30, 6),
    "tiny-sdxl": Setting("tiny-sdxl", 64, 2, 30, 6),
}
# 24 images rather than the goal's 25 so that every batch is full (a partial batch would blur samples/s).
GPU_SETTINGS = {
    "sd15": Setting("sd15", 512, 4, 40, 24),
    "sdxl": Setting("sdxl", 1024, 2, 30, 24),
}


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


def _side(name: str, device: torch.device, setting: Setting, warmup: int, run: Callable[[StepClock], float]) -> Side:
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


# --- The reference loop -------------------------------------------------------------------------------------


def run_reference(
    folder: Path,
    family: str,
    cfg: TrainConfig,
    items: tuple[TrainItem, ...],
    device: torch.device,
    dtype: torch.dtype,
) -> Callable[[StepClock], float]:
    """The diffusers example recipe per step: nothing cached; the same LoRA, optimizer and loss as the trainer.

    Images are decoded and normalised once and kept on the device (the example does it in its data loader
    every step): that only makes the reference faster. The LoRA trains in fp32 on both sides.
    """

    def run(clock: StepClock) -> float:
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import cast_training_params, compute_snr
        from peft import LoraConfig

        pipe = load_folder(folder, family, dtype=dtype).to(device)  # a plain pipeline, as the example loads it
        clock.begin()
        unet, vae = pipe.unet, pipe.vae
        sdxl = family == "sdxl"
        encoders = [pipe.text_encoder, pipe.text_encoder_2] if sdxl else [pipe.text_encoder]
        tokenizers = [pipe.tokenizer, pipe.tokenizer_2] if sdxl else [pipe.tokenizer]
        for module in (unet, vae, *encoders):
            module.requires_grad_(False)
        torch.manual_seed(cfg.seed)  # the LoRA starts from the trainer's initial weights
        lora = LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            init_lora_weights="gaussian",
            target_modules=list(UNET_TARGETS),
            lora_dropout=0.0,
        )
        unet.add_adapter(lora, adapter_name="reference")
        cast_training_params(unet, dtype=torch.float32)
        params = [p for p in unet.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=1e-2)
        schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=cfg.warmup_steps)
        noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        if cfg.gradient_checkpointing:
            unet.enable_gradient_checkpointing()

        images, sizes = [], []
        for item in items:
            with Image.open(item.path) as img:
                rgb = img.convert("RGB")
            sizes.append([rgb.height, rgb.width, 0, 0, cfg.resolution, cfg.resolution])
            rgb = rgb.resize((cfg.resolution, cfg.resolution), Image.Resampling.LANCZOS)
            images.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        pixels = torch.stack(images).to(device, vae.dtype)
        time_ids = torch.tensor(sizes, dtype=torch.float32, device=device)
        captions = [item.caption for item in items] + [""]  # the last row: the empty caption (dropout)
        token_ids = [
            tok(
                captions, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids.to(device)
            for tok in tokenizers
        ]

        g = torch.Generator("cpu").manual_seed(cfg.seed)
        per_epoch = len(items) // cfg.batch_size
        order = torch.randperm(len(items), generator=g)
        unet.train()
        loss_value = float("nan")
        for step in range(1, cfg.steps + 1):
            index = (step - 1) % per_epoch
            if index == 0 and step > 1:
                order = torch.randperm(len(items), generator=g)
            batch = order[index * cfg.batch_size : (index + 1) * cfg.batch_size].to(device)
            dropped = torch.rand(len(batch), generator=g) < cfg.caption_dropout
            rows = torch.where(dropped.to(device), len(items), batch)
            with torch.no_grad():
                latents = vae.encode(pixels[batch]).latent_dist.sample().float() * vae.config.scaling_factor
                hidden, pooled = [], None
                for encoder, ids in zip(encoders, token_ids, strict=True):
                    out = encoder(ids[rows], output_hidden_states=sdxl)
                    hidden.append(out.hidden_states[-2] if sdxl else out[0])
                    pooled = out[0]  # SDXL: the second encoder's projection
                text = torch.cat(hidden, dim=-1)
            noise = torch.randn(latents.shape, device=device)
            if cfg.noise_offset:
                noise = noise + cfg.noise_offset * torch.randn((len(batch), latents.shape[1], 1, 1), device=device)
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),), device=device)
            noisy = noise_scheduler.add_noise(latents, noise, timesteps)
            extra = {}
            if sdxl:
                assert pooled is not None
                extra["added_cond_kwargs"] = {"text_embeds": pooled.to(dtype), "time_ids": time_ids[batch].to(dtype)}
            pred = unet(noisy.to(dtype), timesteps, text.to(dtype), **extra).sample
            if noise_scheduler.config.prediction_type == "v_prediction":
                target = noise_scheduler.get_velocity(latents, noise, timesteps)
            else:
                target = noise
            per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=[1, 2, 3])
            if cfg.min_snr_gamma is not None:
                snr = compute_snr(noise_scheduler, timesteps).clamp(min=1e-8)
                weight = snr.clamp(max=cfg.min_snr_gamma)
                v_pred = noise_scheduler.config.prediction_type == "v_prediction"
                per_sample = per_sample * weight / (snr + 1 if v_pred else snr)
            loss = per_sample.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = loss.item()  # the example logs it every step (a synchronisation, as in the trainer)
            clock.tick(step)
        return loss_value

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
                side = _side(name, device, setting, warmup, run_trainer(model.spec, cfg, items, manager, run_dir))
                if not switching and cfg.steps == setting.steps:  # once, untimed, on the UNet the run used
                    switching.append(switching_ms(manager.pipeline(model.spec).unet, cfg))
                return side
            finally:
                manager.unload_all()
        try:
            return _side(name, device, setting, warmup, run_reference(model.folder, family, cfg, items, device, dtype))
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
