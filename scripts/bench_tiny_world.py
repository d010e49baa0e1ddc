"""Prompt fidelity of the committed `tiny-world` model: does it draw the colours the prompt names?

Loads the model through the studio's own loader, makes one 32 px image per prompt (half of the prompts use
(shape, colour, background) triples the UNet never saw) and reads each image's shape and background colours
with the pixel classifier of engine/tiny/world/reading.py. Prints, per guidance scale, the share of images whose
two colours both match their prompt, split into held-out and seen triples, and the chance level: the same
images scored against shuffled prompts, and 1/56 for guessing two different colours out of 8.

Usage: PYTHONPATH=. python scripts/bench_tiny_world.py [--prompts 200] [--steps 30] [--guidance 1,3,5,8]
       [--model engine/tiny/world/weights]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from engine.diffusion.loading import load_folder
from engine.tiny.world import WEIGHTS_DIR
from engine.tiny.world.fidelity import CHANCE, fidelity, fidelity_prompts, generate, shuffled_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", default="1,3,5,8", help="comma-separated guidance scales")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, default=WEIGHTS_DIR, help="a tiny-world diffusers folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = load_folder(args.model, "sd15")
    pipe.set_progress_bar_config(disable=True)
    prompts = fidelity_prompts(args.prompts)
    held, seen = prompts[0::2], prompts[1::2]
    print(f"{args.model}: {len(prompts)} prompts (half held-out triples), {args.steps} DDIM steps, 32 px")
    for guidance in (float(g) for g in args.guidance.split(",")):
        start = time.monotonic()
        images = generate(pipe, prompts, steps=args.steps, guidance=guidance)
        took = time.monotonic() - start
        print(
            f"guidance {guidance:g}: fidelity {fidelity(images, prompts):.2f} "
            f"(held-out {fidelity(images[0::2], held):.2f}, seen {fidelity(images[1::2], seen):.2f}); "
            f"shuffled prompts {shuffled_fidelity(images, prompts):.3f}, chance {CHANCE:.3f}; {took:.1f} s"
        )


if __name__ == "__main__":
    main()
