"""Measure the studio's FLUX.1 LoRA trainer on a GPU: samples/s and peak memory, beside the training plan's estimate.

The model is scripts/bench_flux.py's: the full-size FLUX.1-dev transformer (11.9 B parameters, bf16, random weights),
full-size CLIP-L and VAE, a one-layer T5 of FLUX's width. `engine.tasks.train.run` trains a rank-16 LoRA on the
13 default targets (the flux-dev preset) on synthetic images, no checkpoint samples, for each setting below. Each
line gives the steady samples/s (after `--warmup` steps), the GPU memory the run adds above the loaded weights, and
what `engine.training.autoconfig` estimates for the same part (its FLUX row is an estimate until this runs).

Usage: PYTHONPATH=. python scripts/bench_flux_train.py [--steps 8] [--warmup 3] [--tiny]
`--tiny` runs the tiny configuration on the CPU (a smoke test of this script, not a figure).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import torch

RUNS = ((1024, False), (1024, True), (512, False))  # (resolution, gradient checkpointing), batch 1


def bench(device: torch.device, dtype: torch.dtype, steps: int, warmup: int, *, tiny: bool) -> None:
    import bench_flux  # type: ignore[import-not-found]  # scripts/ beside this one
    import bench_train  # type: ignore[import-not-found]

    from engine.backends.base import WorkContext
    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion import pipelines
    from engine.tasks import train
    from engine.training.autoconfig import CUDA_CONTEXT_GB, cost_of, memory_need_gb
    from engine.training.types import TrainConfig, TrainTask
    from engine.work import WorkOrder

    preset = get_preset("tiny-flux" if tiny else "flux-dev")
    spec = ModelSpec(name="random-flux-dev", family="flux", source="memory", preset=preset)
    cost = cost_of(get_preset("flux-dev"))
    training = preset.training
    runs = ((64, False), (64, True)) if tiny else RUNS
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pipe = bench_flux.build(device, dtype, tiny=tiny, work=work)
        original = pipelines.load_base_pipeline
        pipelines.load_base_pipeline = lambda spec, **_kw: pipe  # 22 GB are not worth a save and load
        try:
            manager = pipelines.PipelineManager(device, dtype, cache_dir=work / "cache")
            manager.pipeline(spec)
            weights_gb = pipelines._weights_gb(pipe)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            print(f"FLUX.1-dev LoRA training on {name}: {weights_gb:.1f} GiB of weights loaded, {dtype}", flush=True)
            for resolution, checkpointing in runs:
                setting = bench_train.Setting("flux", resolution, 1, steps, 4, checkpointing)
                items = bench_train.synthetic_images(work / f"images-{resolution}", setting)
                config = TrainConfig(
                    steps=steps, rank=training.rank, alpha=float(training.alpha), learning_rate=training.learning_rate,
                    batch_size=1, resolution=resolution, seed=0, noise_offset=0.0, min_snr_gamma=None,
                    gradient_checkpointing=checkpointing, checkpoint_every=steps, sample_prompts=(),
                    mixed_precision="bf16" if device.type == "cuda" else "no",
                )  # fmt: skip
                run_dir = work / f"run-{resolution}-{checkpointing}"
                host = bench_train._BenchHost(manager_factory=lambda: manager)

                def run(clock, config=config, items=items, run_dir=run_dir, host=host) -> float:
                    clock.begin()
                    ctx = WorkContext(1, threading.Event(), lambda event: clock.tick(event.step))
                    task = TrainTask(spec, items, config, run_dir, "job_bench", "bench")
                    return train.run(WorkOrder(1, "train", task), ctx, host).losses[-1]

                side = bench_train.time_side("trainer", device, setting, warmup, run)
                estimate = memory_need_gb(cost, replace(config, batch_size=1), sixteen_bit=True)
                # The part above the weights, as measured here (no checkpoint samples are drawn: nor their share).
                estimate -= cost.weights_gb + CUDA_CONTEXT_GB + cost.sampling_gb
                print(
                    f"  {resolution}², checkpointing {'on ' if checkpointing else 'off'}: "
                    f"{side.samples_per_s:6.2f} samples/s ({1 / side.samples_per_s:5.2f} s/step), "
                    f"adds {side.peak_bytes / 2**30:6.1f} GiB above the weights (plan's estimate {estimate:5.1f} GB), "
                    f"whole run {side.wall_s:5.1f} s, loss {side.loss:.4f}",
                    flush=True,
                )
        finally:
            pipelines.load_base_pipeline = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="the tiny configuration on the CPU (smoke test)")
    args = parser.parse_args()
    if args.tiny:
        torch.set_num_threads(1)
        bench(torch.device("cpu"), torch.float32, args.steps, args.warmup, tiny=True)
    else:
        bench(torch.device("cuda"), torch.bfloat16, args.steps, args.warmup, tiny=False)


if __name__ == "__main__":
    main()
