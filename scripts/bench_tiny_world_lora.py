"""The trainer learns: a LoRA trained by `studio train` on 20 zorps makes `tiny-world` draw zorps, by LoRA scale.

1. Writes 20 zorps (a purple star inside an orange ring, a concept the base model never saw) with their captions
   ("zorp, a zorp on a red background") into a folder, as a member would;
2. trains on them with the studio's own path: a `studio train --images DIR --name zorp --trigger zorp --base
   tiny-world` process (the set, the plan from the preset, the train job on the queue and backend, the
   registered LoRA), with its default settings unless --steps, --rank or --learning-rate are given;
3. generates with the registered LoRA through the engine's LoRA cache, as a generation with it does, at each
   scale: the share of the trigger prompts' images that the pixel reader (engine/tiny/world/concept.py) reads as
   a zorp, and of them on the background their prompt names; then the prompt fidelity of prompts without the
   trigger (engine/tiny/world/fidelity.py) with no LoRA and with it at 1.0: what the LoRA does to the rest.
Also prints the reader on the training images and on their VAE round trip (the most a generation can show).

Usage: PYTHONPATH=. python scripts/bench_tiny_world_lora.py [--steps N] [--rank N] [--learning-rate X]
       [--prior-images N] [--prompts 30] [--others 50] [--images 20] [--set-seed 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: one thread on a shared machine (BENCHMARKS.md)

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(work: Path, images: Path, options: list[str]) -> tuple[Path, float, str]:
    """Run `studio train` in a process of its own; (the registered LoRA file, wall seconds, its output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_") and k != "DISCORD_TOKEN"}
    env |= {"STUDIO_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "cli", "--data-dir", str(work / "data"), "train", "--images", str(images)]
    command += ["--name", "zorp", "--trigger", "zorp", "--base", "tiny-world", *options]
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"studio train failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    found = re.search(r"diffusers: (\S+)", done.stdout)
    assert found is not None, done.stdout
    return Path(found.group(1)), took, done.stdout


def reader_on_training_images(paths: list[Path], pipe) -> tuple[float, float]:
    """The zorp rate of the training images, and of their VAE round trip (encode, decode)."""
    import numpy as np
    import torch
    from PIL import Image

    from engine.tiny.world.concept import zorp_rate

    originals = [Image.open(p).convert("RGB") for p in paths]
    pixels = torch.tensor(np.stack([np.asarray(im) for im in originals]), dtype=torch.float32)
    pixels = pixels.permute(0, 3, 1, 2) / 127.5 - 1
    with torch.no_grad():
        decoded = pipe.vae.decode(pipe.vae.encode(pixels).latent_dist.mean).sample
    arrays = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return zorp_rate(originals), zorp_rate([Image.fromarray(a) for a in arrays])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="studio train --steps (default: the preset's)")
    parser.add_argument("--rank", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--prior-images", type=int, help="studio train --prior-images (0: off; default: the preset's)")
    parser.add_argument("--prompts", type=int, default=30, help="trigger prompts per scale")
    parser.add_argument("--others", type=int, default=50, help="prompts without the trigger, for fidelity")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--set-seed", type=int, default=1, help="the seed that draws the training zorps")
    args = parser.parse_args()
    options: list[str] = []
    given = [("--steps", args.steps), ("--rank", args.rank), ("--learning-rate", args.learning_rate)]
    for flag, value in [*given, ("--prior-images", args.prior_images)]:
        if value is not None:
            options += [flag, str(value)]
    if args.images < 20:
        options.append("--force")

    import torch

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion.pipelines import PipelineManager
    from engine.tiny.world.concept import write_zorp_set
    from engine.tiny.world.lora_quality import SCALES, measure

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="tw-lora-") as tmp:
        work = Path(tmp)
        paths = write_zorp_set(work / "zorps", args.images, seed=args.set_seed)
        manager = PipelineManager(device="cpu", cache_dir=work / "models")
        pipe = manager.pipeline(ModelSpec.from_preset(get_preset("tiny-world")))
        clean, round_trip = reader_on_training_images(paths, pipe)
        print(f"{len(paths)} training zorps: read as zorps {clean:.2f}, after a VAE round trip {round_trip:.2f}")
        lora, took, output = train(work / "run", work / "zorps", options)
        trained = re.search(r"trained (\d+)/\d+ steps in (\d+) s", output)
        steps, training_s = trained.groups() if trained else ("?", "?")
        start = time.monotonic()
        figures = measure(manager, lora, trigger_count=args.prompts, fidelity_count=args.others)
        measured = time.monotonic() - start
    zorps = ", ".join(f"{s:g}: {figures.zorp[s]:.2f}" for s in SCALES)
    backgrounds = ", ".join(f"{s:g}: {figures.background[s]:.2f}" for s in SCALES)
    settings = " ".join(options) or "the preset defaults"
    print(
        f"studio train: {steps} steps, {training_s} s training, {took:.0f} s wall ({settings}; training set seed "
        f"{args.set_seed})"
    )
    print(f"zorp rate by LoRA scale ({args.prompts} trigger prompts, seeds 0-{args.prompts - 1}): {zorps}")
    print(f"background as named, by scale: {backgrounds}")
    print(
        f"fidelity of {args.others} prompts without the trigger (seeds 0-{args.others - 1}): "
        f"base {figures.base_fidelity or 0:.2f}, with the LoRA at 1.0 {figures.lora_fidelity:.2f}; "
        f"generating took {measured:.0f} s"
    )


if __name__ == "__main__":
    main()
