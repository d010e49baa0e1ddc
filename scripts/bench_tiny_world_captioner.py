"""Caption accuracy of the Tiny World captioner, and how often /vary "make it <colour>" gives that colour.

1. Clean renders: the captioner's reading of fresh world renders against the scenes drawn.
2. Generated images: one image per prompt from the committed `tiny-world` model (the preset's steps and
   guidance), read by the captioner and compared with the prompt. The model does not always draw what it is
   asked, so this mixes its errors with the captioner's; the pixel classifier (engine/tiny/world/reading.py)
   says how often the colours were drawn as asked, and the captioner is also scored on just those images.
3. /vary: for source images generated from N prompts, the path the engine's compose task takes on tiny-world
   (caption, `compose_world` with "make it <colour>", img2img at the world's strength with the preset's steps
   and guidance); success when the pixel classifier reads the new shape colour, and whether the background kept.

   With --general, the same with the studio's general composer's prompt ("green red circle on a blue background").

Usage: PYTHONPATH=. python scripts/bench_tiny_world_captioner.py [--images 200] [--vary 40] [--strengths 0.6,0.8]
       [--general] [--captioner engine/tiny/world/captioner/model.safetensors]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from engine.catalog import get_preset
from engine.diffusion.loading import load_folder
from engine.prompting.composer import compose
from engine.tiny.world import WEIGHTS_DIR
from engine.tiny.world.caption_quality import agreement, prompt_scenes, rendered, vary_sources
from engine.tiny.world.captioning import CAPTIONER_FILE, load_world_captioner
from engine.tiny.world.fidelity import fidelity_prompts, generate
from engine.tiny.world.instructions import STRENGTH, compose_world
from engine.tiny.world.reading import read_colours


def show(label: str, scores: dict[str, float], n: int) -> None:
    print(f"{label} ({n}): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--vary", type=int, default=40, help="source images for the /vary colour check")
    parser.add_argument("--strengths", default=str(STRENGTH), help="comma-separated img2img strengths")
    parser.add_argument("--captioner", type=Path, default=CAPTIONER_FILE)
    parser.add_argument("--general", action="store_true", help="also vary with the studio's general composer")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    captioner = load_world_captioner(args.captioner)
    preset = get_preset("tiny-world")

    images, scenes = rendered(args.renders, seed=12345)
    show("clean renders", agreement(captioner.read_batch(images), scenes), len(scenes))

    pipe = load_folder(WEIGHTS_DIR, "sd15")
    pipe.set_progress_bar_config(disable=True)
    prompts = fidelity_prompts(args.images, seed=1)
    start = time.monotonic()
    generated = generate(pipe, prompts, steps=preset.steps, guidance=preset.guidance, seed=5000)
    asked = prompt_scenes(prompts)
    read = captioner.read_batch(generated)
    print(f"generated {len(generated)} images in {time.monotonic() - start:.1f} s ({preset.steps} steps, "
          f"guidance {preset.guidance:g})")  # fmt: skip
    show("generated, captioner vs prompt", agreement(read, asked), len(asked))
    pixels = [read_colours(image) for image in generated]
    pairs_read = enumerate(zip(pixels, asked, strict=True))
    drawn = [i for i, (p, s) in pairs_read if (p.colour, p.background) == (s.colour, s.background)]
    print(f"generated, pixel classifier: both colours as asked {len(drawn) / len(asked):.3f}")
    agree = sum((p.colour, p.background) == (r.colour, r.background) for p, r in zip(pixels, read, strict=True))
    print(f"generated, captioner's colours = pixel classifier's: {agree / len(read):.3f}")
    show(
        "generated with both colours drawn as asked, captioner vs prompt",
        agreement([read[i] for i in drawn], [asked[i] for i in drawn]),
        len(drawn),
    )

    from diffusers import StableDiffusionImg2ImgPipeline

    img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    pairs = vary_sources(args.vary)
    sources = generate(pipe, [p for p, _ in pairs], steps=preset.steps, guidance=preset.guidance, seed=7000)
    captions = [captioner.caption(image) for image in sources]
    composed = [compose_world(text, f"make it {colour}") for text, (_, colour) in zip(captions, pairs, strict=True)]
    example = composed[0].prompt if composed[0] else None
    print(f"/vary: {sum(c is not None for c in composed)}/{len(pairs)} captions composed in the world's grammar; "
          f"e.g. {captions[0]!r} + 'make it {pairs[0][1]}' -> {example!r}")  # fmt: skip
    instructions = [f"make it {colour}" for _, colour in pairs]
    world_prompts = [c.prompt if c else None for c in composed]
    general = [compose(text, instruction).prompt for text, instruction in zip(captions, instructions, strict=True)]
    for strength in (float(s) for s in args.strengths.split(",")):
        vary(img2img, preset, sources, world_prompts, pairs, strength, "the world's composer")
    if args.general:
        print(f"  the general composer writes e.g. {general[0]!r}")
        vary(img2img, preset, sources, list(general), pairs, STRENGTH, "the general composer")


def vary(
    img2img: Any,
    preset: Any,
    sources: list[Any],
    prompts: list[str | None],
    pairs: list[tuple[str, str]],
    strength: float,
    label: str,
) -> None:
    """img2img each source with its prompt; count the outputs whose shape has the wanted colour."""
    hits = kept = 0
    for i, ((_, colour), image, prompt) in enumerate(zip(pairs, sources, prompts, strict=True)):
        if prompt is None:
            continue
        out = img2img(
            prompt,
            image=image,
            strength=strength,
            num_inference_steps=preset.steps,
            guidance_scale=preset.guidance,
            generator=torch.Generator().manual_seed(9000 + i),
        ).images[0]
        reading = read_colours(out)
        hits += reading.colour == colour
        kept += reading.background == read_colours(image).background
    print(f"/vary 'make it <colour>' with {label} at strength {strength:g}: new colour {hits}/{len(pairs)} "
          f"({hits / len(pairs):.2f}), background kept {kept}/{len(pairs)}")  # fmt: skip


if __name__ == "__main__":
    main()
