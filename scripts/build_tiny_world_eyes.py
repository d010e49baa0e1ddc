"""Build the world's eyes: the identity embedder of `tiny-world` (engine/tiny/world/eyes.py), from nothing.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/build_tiny_world_eyes.py [--out engine/tiny/world/eyes_weights]

A *character* is what an image shows, whatever it stands on: one or two of the world's shapes in a colour, or a
shape with another inside it (a star in a ring, a square in a circle...). Each training step draws a batch of
characters and renders each twice, on two different backgrounds, at two positions and sizes; half the views go
through the committed tiny-world VAE and back, so the eyes also know the softened shapes generations show. A
supervised contrastive loss pulls the two views (and any other render of the same character) together and pushes
the rest apart. The zorp (a purple star in an orange ring) and one in ten other nested characters are never shown:
the held-out figures say whether the eyes tell characters they never saw.

Then the cosine that best separates same-character pairs from different ones is calibrated on fresh renders
and written to config.json as `identity_threshold`. Weights: fp16 safetensors, 0.74 MB (370 k parameters).

Time: 871 s (14.5 min: 400 steps in 712 s, calibration and figures 160 s) on one thread of this machine's 2-core
Xeon at nice 5 while other jobs kept its load at 4-7; about 0.8 s a step when it was quieter. One torch thread by
default and fixed seeds: the full build run again (777 s) gave bit-identical files, as did a shortened one run
twice; another thread count, CPU or library version changes the reduction order, so the committed weights are
the reference and this script their recipe.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from engine.tiny.world import WEIGHTS_DIR, world  # noqa: E402
from engine.tiny.world.eyes import EYES_DIR, EyesNet, identity_threshold, state_for_saving, to_pixels  # noqa: E402

_T0 = time.monotonic()
OUTERS = ("circle", "square", "triangle", "star", "ring")
INNERS = ("circle", "square", "triangle", "star")
ZORP = ("ring", "orange", "star", "purple", 1)
_SCALE = 4


@dataclass(frozen=True)
class Character:
    outer: str
    colour: str
    inner: str | None = None
    inner_colour: str | None = None
    count: int = 1

    @property
    def key(self) -> tuple[object, ...]:
        return (self.outer, self.colour, self.inner, self.inner_colour, self.count)

    @property
    def colours(self) -> tuple[str, ...]:
        return (self.colour,) if self.inner_colour is None else (self.colour, self.inner_colour)


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.0f} s] {message}", flush=True)


def nested_characters() -> list[Character]:
    """Every shape with another inside it, in two different colours (a ring holds anything, others hold stars...)."""
    out = []
    for outer in OUTERS:
        for inner in INNERS:
            if inner == outer and outer != "ring":
                continue
            for colour in world.COLOURS:
                for inner_colour in world.COLOURS:
                    if inner_colour != colour:
                        out.append(Character(outer, colour, inner, inner_colour))
    return out


def split_characters() -> tuple[list[Character], list[Character], list[Character]]:
    """(simple characters, nested ones trained on, nested ones held out: the zorp and one in ten others)."""
    simple = [Character(s, c, count=n) for s in OUTERS for c in world.COLOURS for n in (1, 2)]
    nested = nested_characters()
    rng = random.Random(7)
    held = {c.key for c in rng.sample(nested, len(nested) // 10)} | {ZORP}
    return simple, [c for c in nested if c.key not in held], [c for c in nested if c.key in held]


def render(character: Character, rng: random.Random) -> Image.Image:
    """One view: a background none of its colours, a random place and size (as the world's jitter, and more)."""
    side = world.SIZE * _SCALE
    background = rng.choice([c for c in world.COLOURS if c not in character.colours])
    image = Image.new("RGB", (side, side), world.PALETTE[background])
    draw = ImageDraw.Draw(image)
    if character.count == 2:
        r = side * rng.uniform(0.11, 0.16)
        cy = rng.uniform(r + 4, side - r - 4)
        gap = rng.uniform(2.3, 3.0) * r
        cx = rng.uniform(r + 4, side - r - 4 - gap)
        places = [(cx, cy), (cx + gap, cy)]
    else:
        low = 0.24 if character.inner else 0.13
        r = side * rng.uniform(low, 0.40)
        margin = r * 0.9
        places = [(rng.uniform(margin, side - margin), rng.uniform(margin, side - margin))]
    for cx, cy in places:
        world.draw_shape(draw, character.outer, cx, cy, r, world.PALETTE[character.colour])
        if character.inner and character.inner_colour:
            world.draw_shape(draw, character.inner, cx, cy, r * 0.62, world.PALETTE[character.inner_colour])
    return image.resize((world.SIZE, world.SIZE), Image.Resampling.BOX)


def load_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(WEIGHTS_DIR / "vae"), torch_dtype=torch.float32)
    return vae.eval().requires_grad_(False)


def views(characters: list[Character], rng: random.Random, vae: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
    """One rendered view per character, half of them through the VAE and back, with a little pixel noise."""
    pixels = to_pixels([render(c, rng) for c in characters])
    through = torch.rand(len(characters), generator=gen) < 0.5
    if through.any():
        with torch.no_grad():
            latents = vae.encode(pixels[through]).latent_dist.mean
            pixels[through] = vae.decode(latents).sample.clamp(-1, 1)
    noise = torch.randn(pixels.shape, generator=gen) * 0.03
    return (pixels + noise).clamp(-1, 1)


def supcon(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (every other render of the same character is a positive)."""
    logits = embeddings @ embeddings.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -(log_prob * positives).sum(1).div(positives.sum(1).clamp(min=1)).mean()


def sample_batch(rng: random.Random, simple: list[Character], nested: list[Character], n: int) -> list[Character]:
    # Half simple characters (what base prompts draw), half nested ones (what new concepts look like).
    return [rng.choice(simple) if i % 2 == 0 else rng.choice(nested) for i in range(n)]


def train(net: EyesNet, steps: int, batch: int, seed: int) -> None:
    simple, nested, _ = split_characters()
    vae = load_vae()
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    for step in range(steps):
        done = (step - warmup) / (steps - warmup)
        factor = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * done))
        for group in optimiser.param_groups:
            group["lr"] = 2e-3 * factor
        characters = sample_batch(rng, simple, nested, batch)
        index = {c.key: i for i, c in enumerate(characters)}
        labels = torch.tensor([index[c.key] for c in characters] * 2)
        pixels = torch.cat([views(characters, rng, vae, gen), views(characters, rng, vae, gen)])
        loss = supcon(net(pixels), labels, temperature=0.1)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"step {step}/{steps}: loss {loss.item():.3f}")


def pairs(net: EyesNet, characters: list[Character], n: int, seed: int, vae: torch.nn.Module) -> tuple:
    """Cosines of n same-character pairs and n different-character pairs (fresh renders, half through the VAE)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    a = [rng.choice(characters) for _ in range(n)]
    b = [rng.choice([c for c in characters if c.key != x.key]) for x in a]
    with torch.no_grad():
        ea, ea2, eb = (net(views(cs, rng, vae, gen)) for cs in (a, a, b))
    return (ea * ea2).sum(1).numpy(), (ea * eb).sum(1).numpy()


def retrieval(net: EyesNet, characters: list[Character], seed: int, vae: torch.nn.Module) -> float:
    """Share of renders whose nearest character, in a gallery of one other render of each, is their own."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        gallery, queries = net(views(characters, rng, vae, gen)), net(views(characters, rng, vae, gen))
    return float(((queries @ gallery.T).argmax(1) == torch.arange(len(characters))).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EYES_DIR)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=96, help="characters per step (each rendered twice)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TW_THREADS", "1")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = EyesNet()
    log(f"{sum(p.numel() for p in net.parameters()):,} parameters; {args.steps} steps of {args.batch} x 2 views")
    train(net, args.steps, args.batch, seed=1)
    net.eval()
    vae = load_vae()
    simple, nested, held = split_characters()
    same, different = pairs(net, simple + nested, 2000, seed=11, vae=vae)
    threshold = identity_threshold(same, different)
    log(f"identity threshold {threshold:.3f} (same {np.median(same):.3f}, different {np.median(different):.3f})")
    for label, chars in (("simple", simple), ("nested, trained", nested[:200]), ("nested, held out", held)):
        s, d = pairs(net, chars, 1000, seed=21, vae=vae)
        accuracy = ((s >= threshold).mean() + (d < threshold).mean()) / 2
        log(f"{label}: retrieval top-1 {retrieval(net, chars, seed=31, vae=vae):.3f}, pair accuracy {accuracy:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    save_file(state_for_saving(net), str(args.out / "model.safetensors"))
    config = {"widths": [32, 64, 128], "dim": 64, "identity_threshold": round(threshold, 4)}
    config |= {"steps": args.steps, "batch": args.batch, "threads": args.threads}
    (args.out / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    log(f"saved to {args.out}")


if __name__ == "__main__":
    main()
