"""Build the `tiny-world` model from nothing: render the world, train a VAE, a text encoder and a UNet, save it.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/build_tiny_world.py [--out engine/tiny/world/weights]

The result is a diffusers StableDiffusionPipeline folder (safetensors: UNet and VAE in fp16, the text encoder in
fp32; 10.5 MB) that the studio loads with `engine.diffusion.loading.load_folder(path, "sd15")`.
Three stages, each with a fixed seed and a fixed step count:

1. VAE (blocks 16/32/64, x4 downsampling: 32x32x3 -> 8x8x4) on 20,000 images, half world scenes and half
   clutter of any shape (stars and rings too, so a later LoRA's new concept can be encoded). It trains on
   random 16x16 crops, four times cheaper, and on whole images for the last tenth of its steps.
2. Text encoder (CLIP, width 64, 3 layers) over the studio's byte-level tokenizer, taught to read the
   captions' attributes through throw-away heads on its pooled output, then frozen (as SD freezes CLIP).
3. UNet (blocks 64/128 on 8x8 latents, cross-attention) on 20,000 pre-encoded scenes whose triples are not
   held out, epsilon prediction, Min-SNR-5 weights, 10% caption dropout so classifier-free guidance works.

Time: 12.6 min (755 s: VAE 272 s, text encoder 42 s, UNet 412 s) on one thread at nice 10 of this machine's
2-core Xeon while other jobs kept its load at 3 to 7. The default is one torch thread (TW_THREADS, --threads): on
a busy machine two threads that wait on each other are slower. Rebuilds: the full build run twice at one thread
gave bit-identical safetensors (721 s the second time), as did a shortened one run twice. Another thread count,
CPU or library version changes the reduction order and gives other weights of similar quality, so the committed
weights are the reference and this script their recipe. The fp16 copy follows prompts as well as the float32
one (BENCHMARKS.md, "Model quality").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from engine.tiny.models import clip_tokenizer  # noqa: E402
from engine.tiny.world import WEIGHTS_DIR, world  # noqa: E402

_T0 = time.monotonic()
_BF16 = torch.autocast("cpu", dtype=torch.bfloat16)
_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.0f} s] {message}", flush=True)


def to_tensor(images: list[Any]) -> torch.Tensor:
    """PIL images -> float tensor in [-1, 1], N x 3 x H x W."""
    array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def cosine_lr(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


# --- 1. VAE -------------------------------------------------------------------------------------------------


def make_vae() -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(101)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=world.SIZE,
        mid_block_add_attention=False,
        force_upcast=False,
    )
    with torch.no_grad():  # start almost deterministic: a log-variance of -8 is a std of 0.02
        vae.encoder.conv_out.bias[4:].fill_(-8.0)
    return vae


def train_vae(vae: Any, images: torch.Tensor, steps: int) -> None:
    gen = torch.Generator().manual_seed(102)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    full_from = int(steps * 0.9)  # the last tenth on whole images, so GroupNorm sees the statistics of use
    vae.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 3e-3 * cosine_lr(step, steps, 20)
        if step < full_from:
            idx = torch.randint(len(images), (64,), generator=gen)
            y, x = torch.randint(0, world.SIZE - 16 + 1, (2,), generator=gen).tolist()
            batch = images[idx][:, :, y : y + 16, x : x + 16]
        else:
            batch = images[torch.randint(len(images), (32,), generator=gen)]
        with _BF16:
            posterior = vae.encode(batch).latent_dist
            z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
            recon = vae.decode(z).sample.float()
        kl = posterior.kl().mean()
        loss = (recon - batch).abs().mean() + ((recon - batch) ** 2).mean() + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.4f}")
    vae.eval()


def psnr(vae: Any, images: torch.Tensor) -> float:
    with torch.no_grad():
        recon = vae.decode(vae.encode(images).latent_dist.mean).sample.clamp(-1, 1)
    mse = ((recon - images) / 2).pow(2).mean().item()
    return 10 * math.log10(1 / mse)


# --- 2. Text encoder ----------------------------------------------------------------------------------------

_HEADS = {
    "shape": list(world.SHAPES),
    "colour": list(world.COLOURS),
    "background": [*world.COLOURS, "none"],
    "count": [1, 2],
    "position": [*world.POSITIONS, "two"],
}


def make_text_encoder(tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        hidden_size=64,
        intermediate_size=256,
        num_attention_heads=4,
        num_hidden_layers=3,
        max_position_embeddings=77,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=64,
    )
    torch.manual_seed(201)
    return CLIPTextModel(config)


def tokenize(tokenizer: Any, captions: list[str]) -> torch.Tensor:
    """Token ids exactly as StableDiffusionPipeline makes them (padded to 77)."""
    return tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def _labelled_captions(rng: random.Random, n: int, triples: list[tuple[str, str, str]]) -> tuple[list[str], dict]:
    captions, labels = [], {key: [] for key in _HEADS}
    for _ in range(n):
        scene = world.random_scene(rng, triples=triples)
        text = world.caption(scene, rng)
        captions.append(text)
        labels["shape"].append(_HEADS["shape"].index(scene.shape))
        labels["colour"].append(_HEADS["colour"].index(scene.colour))
        labels["background"].append(_HEADS["background"].index(scene.background if "background" in text else "none"))
        labels["count"].append(_HEADS["count"].index(scene.count))
        labels["position"].append(_HEADS["position"].index(scene.position if scene.count == 1 else "two"))
    return captions, {key: torch.tensor(value) for key, value in labels.items()}


def train_text_encoder(encoder: Any, tokenizer: Any, steps: int) -> float:
    """Teach the encoder the captions' attributes; returns its accuracy on captions of held-out triples."""
    torch.manual_seed(202)
    heads = nn.ModuleDict({key: nn.Linear(64, len(values)) for key, values in _HEADS.items()})
    opt = torch.optim.Adam([*encoder.parameters(), *heads.parameters()], lr=2e-3)
    rng = random.Random(203)
    encoder.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 2e-3 * cosine_lr(step, steps, 20)
        captions, labels = _labelled_captions(rng, 128, world.all_triples())
        pooled = encoder(tokenize(tokenizer, captions)).pooler_output
        loss = sum(nn.functional.cross_entropy(heads[key](pooled), labels[key]) for key in _HEADS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"text step {step}/{steps} loss {loss.item():.4f}")
    encoder.eval()
    captions, labels = _labelled_captions(random.Random(204), 256, sorted(world.held_out_triples()))
    with torch.no_grad():
        pooled = encoder(tokenize(tokenizer, captions)).pooler_output
    right = torch.ones(len(captions), dtype=torch.bool)
    for key in _HEADS:
        right &= heads[key](pooled).argmax(-1) == labels[key]
    return right.float().mean().item()


# --- 3. UNet ------------------------------------------------------------------------------------------------


def make_unet() -> Any:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(301)
    return UNet2DConditionModel(
        sample_size=world.SIZE // 4,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(64, 128),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=64,
        attention_head_dim=4,  # diffusers reads this as the number of heads
        norm_num_groups=8,
    )


def train_unet(
    unet: Any, latents: torch.Tensor, embeds: torch.Tensor, caption_of: torch.Tensor, uncond: torch.Tensor, steps: int
) -> None:
    from diffusers import DDPMScheduler

    noise_schedule = DDPMScheduler(**_SCHEDULE)
    alphas = noise_schedule.alphas_cumprod
    gen = torch.Generator().manual_seed(302)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    unet.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * cosine_lr(step, steps, 50)
        idx = torch.randint(len(latents), (32,), generator=gen)
        x0 = latents[idx]
        cond = embeds[caption_of[idx]]
        drop = torch.rand(32, generator=gen) < 0.1  # unconditional examples, for guidance
        cond = torch.where(drop[:, None, None], uncond.expand_as(cond), cond)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (32,), generator=gen)
        noisy = noise_schedule.add_noise(x0, noise, t)
        with _BF16:
            pred = unet(noisy, t, encoder_hidden_states=cond).sample.float()
        snr = alphas[t] / (1 - alphas[t])
        weight = torch.clamp(snr, max=5.0) / snr  # Min-SNR-5 for epsilon prediction
        loss = (weight * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"unet step {step}/{steps} loss {loss.item():.4f}")
    unet.eval()


# --- Putting it together ------------------------------------------------------------------------------------


def build(
    out: Path,
    *,
    vae_steps: int,
    text_steps: int,
    unet_steps: int,
    images: int,
    fp16: bool,
    keep_fp32: Path | None = None,
) -> None:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    work = Path(tempfile.mkdtemp(prefix="tiny-world-"))
    try:
        tokenizer = clip_tokenizer(work / "tokenizer")
        rng = random.Random(1)
        half = images // 2
        codec_images = [world.render(world.random_scene(rng), rng) for _ in range(half)]
        codec_images += [world.render_clutter(rng) for _ in range(images - half)]
        codec_data = to_tensor(codec_images)
        log(f"rendered {len(codec_data)} images for the VAE")

        vae = make_vae()
        train_vae(vae, codec_data, vae_steps)
        check_rng = random.Random(2)
        scenes = to_tensor([world.render(world.random_scene(check_rng), check_rng) for _ in range(256)])
        zorps = to_tensor([world.render_zorp(check_rng.choice(world.COLOURS[:4]), check_rng) for _ in range(64)])
        log(f"vae PSNR {psnr(vae, scenes):.1f} dB on scenes, {psnr(vae, zorps):.1f} dB on the unseen concept")

        text_encoder = make_text_encoder(tokenizer)
        accuracy = train_text_encoder(text_encoder, tokenizer, text_steps)
        log(f"text encoder reads all attributes of {accuracy:.1%} of held-out captions")

        rng = random.Random(3)
        triples = world.training_triples()
        scenes_list = [world.random_scene(rng, triples=triples) for _ in range(images)]
        pictures = to_tensor([world.render(scene, rng) for scene in scenes_list])
        captions = [world.caption(scene, rng) for scene in scenes_list]
        distinct = sorted(set(captions))
        caption_of = torch.tensor([distinct.index(c) for c in captions])
        with torch.no_grad():
            embeds = torch.cat(
                [text_encoder(tokenize(tokenizer, distinct[i : i + 256]))[0] for i in range(0, len(distinct), 256)]
            )
            uncond = text_encoder(tokenize(tokenizer, [""]))[0]
            means = torch.cat([vae.encode(pictures[i : i + 500]).latent_dist.mean for i in range(0, images, 500)])
        scale = float(1.0 / means.std())
        vae.register_to_config(scaling_factor=scale)
        log(f"encoded {images} scenes with {len(distinct)} distinct captions; latent scaling factor {scale:.3f}")

        unet = make_unet()
        train_unet(unet, means * scale, embeds, caption_of, uncond, unet_steps)

        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=DDIMScheduler(clip_sample=False, set_alpha_to_one=False, steps_offset=1, **_SCHEDULE),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        if keep_fp32 is not None:
            pipe.save_pretrained(keep_fp32, safe_serialization=True)
        if fp16:  # the text encoder stays float32: transformers would load it as float16, which the CPU runs badly
            pipe.unet.to(dtype=torch.float16)
            pipe.vae.to(dtype=torch.float16)
        staged = work / "model"
        pipe.save_pretrained(staged, safe_serialization=True)
        recipe = {"vae_steps": vae_steps, "text_steps": text_steps, "unet_steps": unet_steps, "images": images}
        recipe |= {"dtype": "float16" if fp16 else "float32", "threads": torch.get_num_threads()}
        (staged / "build.json").write_text(json.dumps(recipe, indent=1) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, out)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        log(f"wrote {out} ({size / 1e6:.1f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder to write (replaced whole)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TW_THREADS", "1")),
                        help="torch threads; 1 is faster on a busy machine and fixes the reduction order")  # fmt: skip
    parser.add_argument("--vae-steps", type=int, default=1900)
    parser.add_argument("--text-steps", type=int, default=200)
    parser.add_argument("--unet-steps", type=int, default=1100)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--fp32", action="store_true", help="save float32 weights (twice the size)")
    parser.add_argument("--keep-fp32", type=Path, help="also save the float32 pipeline to this folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build(args.out, vae_steps=args.vae_steps, text_steps=args.text_steps, unet_steps=args.unet_steps,
          images=args.images, fp16=not args.fp32, keep_fp32=args.keep_fp32)  # fmt: skip


if __name__ == "__main__":
    main()
