"""The world's eyes at work: identity on held-out renders, consistency by checkpoint, and the character sheet.

1. identity: fresh renders of the world's 48 simple characters and the zorp (engine/tiny/world/identity.py):
   the share of same-character and different-character pairs the embedder's threshold calls right, as drawn and
   after a round trip through tiny-world's VAE (how generations look), and top-1 retrieval among the 49.
2. consistency (issue 22, figure 3): `studio train` on 20 zorps, as scripts/bench_tiny_world_lora.py runs it;
   each checkpoint's consistency and likeness as `studio train` prints them (what the bot shows), and the same
   scores of the base model's samples (the run's sample prompts, seeds and steps, no LoRA) as the baseline; then
   the same two scores on the world's own trigger prompts, for the base model and each checkpoint's LoRA.
3. sheet (figure 4): a full character sheet (the studio's 30 panels, its groups' strengths) from an unseen zorp
   through the engine's sheet task, without and with the LoRA: how many panels keep the reference's identity.

Usage: PYTHONPATH=. python scripts/bench_tiny_world_eyes.py [--part identity|lora|all] [--pairs 500]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: one thread on a shared machine (BENCHMARKS.md)

import argparse
import json
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tiny_world_lora import ROOT, train

sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from engine import TrainConfig


def round_trip(pipe: Any, images: list[Any]) -> list[Any]:
    """The images after tiny-world's VAE encodes and decodes them."""
    import numpy as np
    import torch
    from PIL import Image

    pixels = torch.tensor(np.stack([np.asarray(im.convert("RGB")) for im in images]), dtype=torch.float32)
    pixels = pixels.permute(0, 3, 1, 2) / 127.5 - 1
    with torch.no_grad():
        decoded = pipe.vae.decode(pipe.vae.encode(pixels.to(pipe.vae.dtype)).latent_dist.mean).sample.float()
    arrays = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a) for a in arrays]


def identity_part(embedder: Any, pipe: Any, count: int) -> None:
    from engine.tiny.world.identity import cosines, pairs, retrieval

    threshold = embedder.identity_threshold
    drawn = pairs(count, seed=100)
    print(f"identity threshold (calibrated by the build): {threshold:.3f}")
    for label, (a, s, d) in (
        ("drawn", (drawn.anchors, drawn.same, drawn.different)),
        ("VAE round trip", tuple(round_trip(pipe, x) for x in (drawn.anchors, drawn.same, drawn.different))),
    ):
        same, different = cosines(embedder, a, s), cosines(embedder, a, d)
        zorp = slice(0, None, 10)
        print(
            f"{label}: {count} pairs; same character kept {(same >= threshold).mean():.3f}, different told apart "
            f"{(different < threshold).mean():.3f}, same closer than different {(same > different).mean():.3f}; "
            f"median cosine same {float(sorted(same)[len(same) // 2]):.3f}, different "
            f"{float(sorted(different)[len(different) // 2]):.3f}; zorps: kept {(same[zorp] >= threshold).mean():.2f}"
        )
    print(f"retrieval top-1 among 49 characters (4 renders each; chance 0.020): {retrieval(embedder, 4, 101):.3f}")


def run_config(data_dir: Path) -> TrainConfig:
    """The finished run's config as the studio stored it (sample prompts, seed, sample steps, resolution)."""
    from studio.training.plans import StoredPlan

    with sqlite3.connect(data_dir / "studio.db") as db:
        (plan,) = db.execute("SELECT plan FROM training_runs ORDER BY id DESC LIMIT 1").fetchone()
    return StoredPlan.from_json(json.loads(plan)).config


def base_scores(manager: Any, config: TrainConfig, embedder: Any, centre: Any) -> tuple[float, float]:
    """Consistency and likeness of the base model's samples: the run's prompts and seeds, no LoRA."""
    import numpy as np
    import torch

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion.schedulers import make_scheduler
    from engine.training.samples import consistency_scores

    preset = get_preset("tiny-world")
    spec = ModelSpec.from_preset(preset)
    pipe = manager.pipeline(spec)
    manager.loras(spec).activate([])
    pipe.scheduler = make_scheduler(preset.scheduler, pipe.scheduler.config)
    prompts = list(config.sample_prompts)
    generators = [torch.Generator("cpu").manual_seed(config.seed + i) for i in range(len(prompts))]
    side = config.resolution
    images = pipe(
        prompt=prompts,
        num_inference_steps=config.sample_steps,
        guidance_scale=preset.guidance,
        width=side,
        height=side,
        generator=generators,
    ).images
    consistency, likeness = consistency_scores(np.asarray(embedder.embed(images)), centre)
    assert consistency is not None
    assert likeness is not None
    return consistency, likeness


def sheet_part(manager: Any, reference: Path, lora: Path | None, work: Path) -> tuple[int, int, list[float]]:
    """(panels that keep the identity, panels, their cosines): the studio's 30 panels from `reference`."""
    from engine.backends import WorkContext
    from engine.catalog import ModelSpec, get_preset
    from engine.host import EngineConfig, EngineHost
    from engine.tasks import sheet
    from engine.types import GenerateRequest, LoraSpec
    from engine.work import GenerateTask, SheetTask, WorkOrder
    from studio.trainsets.sheet import GROUPS

    host = EngineHost(EngineConfig(device="cpu"), manager_factory=lambda: manager)
    spec = ModelSpec.from_preset(get_preset("tiny-world"))
    loras = () if lora is None else (LoraSpec("zorp", lora, "sd15", 1.0),)
    kept, total, cosines = 0, 0, []
    for n, (_group, strength, panels) in enumerate(GROUPS):
        request = GenerateRequest(prompt="x", model="tiny-world", count=1, seed=100 * n, strength=strength, loras=loras)
        task = SheetTask(GenerateTask(request, spec), panels, trigger_word="zorp", description="a zorp")
        order = WorkOrder(n + 1, "sheet", task, {"source": reference}, work / f"sheet-{n}-{lora is not None}")
        outcome = sheet.run(order, WorkContext(n + 1, threading.Event(), lambda _e: None), host)
        assert outcome.identity is not None
        assert outcome.identity_kept is not None
        kept, total, cosines = kept + outcome.identity_kept, total + len(panels), cosines + list(outcome.identity)
    return kept, total, cosines


def checkpoint_files(run_data: Path, config: TrainConfig, out: Path) -> list[tuple[int, Path]]:
    """Each checkpoint's LoRA of the run, written in the diffusers layout a generation loads: (step, file)."""
    from safetensors.torch import load_file

    from engine.catalog import get_preset
    from engine.training.export import export_diffusers

    found = []
    for folder in sorted(run_data.rglob("ckpt-*")):
        step = int(folder.name.split("-")[1])
        path = out / f"zorp-{step}.safetensors"
        state = load_file(str(folder / "lora.safetensors"))
        export_diffusers(path, state, config, get_preset("tiny-world").training.target_modules, {})
        found.append((step, path))
    return found


def lora_part(manager: Any, embedder: Any, work: Path, steps: int | None, prompts: int) -> None:
    import numpy as np
    from PIL import Image

    from engine.tiny.world.concept import trigger_prompts, write_zorp_set
    from engine.tiny.world.identity import lora_scores, training_centre
    from engine.tiny.world.world import render_zorp

    paths = write_zorp_set(work / "zorps", 20)
    lora, took, output = train(work / "run", work / "zorps", [] if steps is None else ["--steps", str(steps)])
    rows = re.findall(r"step (\d+): loss [\d.]+, consistency (-?[\d.]+), likeness (-?[\d.]+)", output)
    centre = training_centre(embedder, [Image.open(p).convert("RGB") for p in paths])
    config = run_config(work / "run" / "data")
    consistency, likeness = base_scores(manager, config, embedder, centre)
    print(f"studio train: {took:.0f} s wall; sample prompts {list(config.sample_prompts)}, seeds from {config.seed}")
    print(f"  consistency / likeness as the bot shows them: base model {consistency:.3f} / {likeness:.3f}")
    for step, c, k in rows:
        print(f"  step {step}: {float(c):.3f} / {float(k):.3f}")
    world = trigger_prompts(prompts)
    print(f"the world's {prompts} trigger prompts ('zorp, a zorp on a <colour> background', seeds 0-{prompts - 1}):")
    c, k = lora_scores(manager, None, embedder, centre, world)
    print(f"  base model {c:.3f} / {k:.3f}")
    for step, file in checkpoint_files(work / "run" / "data", config, work):
        c, k = lora_scores(manager, file, embedder, centre, world)
        print(f"  step {step}: {c:.3f} / {k:.3f}")
    reference = work / "reference.png"
    render_zorp("blue", random.Random(2026)).save(reference)  # a zorp no training image is
    for label, file in (("base model", None), ("with the zorp LoRA at 1.0", lora)):
        start = time.monotonic()
        kept, total, cosines = sheet_part(manager, reference, file, work)
        print(
            f"character sheet, {label}: {kept}/{total} panels keep the reference's identity "
            f"(median cosine {float(np.median(cosines)):.3f}; {time.monotonic() - start:.0f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("identity", "lora", "all"), default="all")
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--steps", type=int, help="studio train --steps (default: the preset's)")
    parser.add_argument("--prompts", type=int, default=12, help="the world's trigger prompts per checkpoint")
    args = parser.parse_args()

    import torch

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion.pipelines import PipelineManager
    from engine.vision.catalog import load_embedder

    torch.set_num_threads(1)
    embedder: Any = load_embedder("tiny-world-eyes")
    with tempfile.TemporaryDirectory(prefix="tw-eyes-") as tmp:
        work = Path(tmp)
        manager = PipelineManager(device="cpu", cache_dir=work / "models")
        if args.part in ("identity", "all"):
            identity_part(embedder, manager.pipeline(ModelSpec.from_preset(get_preset("tiny-world"))), args.pairs)
        if args.part in ("lora", "all"):
            lora_part(manager, embedder, work, args.steps, args.prompts)


if __name__ == "__main__":
    main()
