"""The README's before/after LoRA grid on tiny-world: a zorp LoRA at each scale, with and without the trigger.

Trains two LoRAs with `studio train` on the same 20 zorps (scripts/bench_tiny_world_lora.py's folder and process):
one at the preset's settings (prior preservation on) and one with `--prior-images 0`. Then, for each, draws at
LoRA scales 0 / 0.8 / 1.0 / 1.2 (the columns) a trigger prompt and a prompt without the trigger, each with a few
seeds (the rows), at the preset's steps and guidance; scale 0 is the base model (before). Images are enlarged
without smoothing so the 32 px pixels stay visible.

Usage: PYTHONPATH=. python scripts/make_tiny_world_lora_grid.py [--out docs/tiny-world-lora.png] [--seeds 3]
       [--steps N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: one thread on a shared machine (BENCHMARKS.md)

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tiny_world_lora import ROOT, train  # beside this script

SCALES = (0.0, 0.8, 1.0, 1.2)
TRIGGER = "zorp, a zorp on a blue background"
OTHER = "a red circle on a green background"
CELL = 96  # pixels per image in the figure (32 px × 3)
GAP = 6
LABEL_W = 190
HEAD_H = 22


def draw_rows(manager, lora: Path, seeds: int) -> list[tuple[str, list[Image.Image]]]:
    """One row per (prompt, seed): its images at SCALES."""
    from engine.catalog import ModelSpec, get_preset
    from engine.tiny.world.fidelity import generate
    from engine.types import LoraSpec

    preset = get_preset("tiny-world")
    spec = ModelSpec.from_preset(preset)
    pipe = manager.pipeline(spec)
    cache = manager.loras(spec)
    rows = []
    for prompt in (TRIGGER, OTHER):
        by_scale = []
        for scale in SCALES:
            cache.activate([LoraSpec("zorp", lora, spec.family, scale)])
            by_scale.append(generate(pipe, [prompt] * seeds, steps=preset.steps, guidance=preset.guidance, seed=0))
        cache.activate([])
        # generate() gives prompt i the seed i: row i is seed i at every scale
        rows += [(f"{prompt}\nseed {i}", [images[i] for images in by_scale]) for i in range(seeds)]
    return rows


def panel(title: str, rows: list[tuple[str, list[Image.Image]]]) -> Image.Image:
    width = LABEL_W + len(SCALES) * (CELL + GAP)
    height = 2 * HEAD_H + len(rows) * (CELL + GAP)
    figure = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(figure)
    draw.text((4, 4), title, fill="black")
    for column, scale in enumerate(SCALES):
        label = "0 (base)" if scale == 0 else f"LoRA {scale:g}"
        draw.text((LABEL_W + column * (CELL + GAP) + 4, HEAD_H + 4), label, fill="black")
    for r, (label, images) in enumerate(rows):
        top = 2 * HEAD_H + r * (CELL + GAP)
        draw.multiline_text((4, top + CELL // 3), label.replace(", a zorp", ",\na zorp"), fill="black", spacing=2)
        for column, image in enumerate(images):
            figure.paste(image.resize((CELL, CELL), Image.Resampling.NEAREST), (LABEL_W + column * (CELL + GAP), top))
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "tiny-world-lora.png")
    parser.add_argument("--seeds", type=int, default=3, help="rows per prompt")
    parser.add_argument("--steps", type=int, help="studio train --steps (default: the preset's)")
    args = parser.parse_args()

    import torch

    from engine.diffusion.pipelines import PipelineManager
    from engine.tiny.world.concept import write_zorp_set

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="tw-grid-") as tmp:
        work = Path(tmp)
        write_zorp_set(work / "zorps", 20, seed=1)
        manager = PipelineManager(device="cpu", cache_dir=work / "models")
        panels = []
        for title, options in (
            ("without prior preservation (--prior-images 0)", ["--prior-images", "0"]),
            ("with prior preservation (the preset: 40 base-model images)", []),
        ):
            steps = ["--steps", str(args.steps)] if args.steps else []
            lora, took, _output = train(work / f"run{len(panels)}", work / "zorps", options + steps)
            print(f"trained {title}: {took:.0f} s")
            panels.append(panel(title, draw_rows(manager, lora, args.seeds)))
    width = sum(p.width for p in panels) + GAP * (len(panels) - 1)
    figure = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    left = 0
    for p in panels:
        figure.paste(p, (left, 0))
        left += p.width + GAP
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
