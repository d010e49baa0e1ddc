"""Benchmark the engine's generate path against a plain diffusers pipeline call on the same model.

CPU mode (default): tiny-sd (or --model tiny-flux), same size, steps and seeds; prints images/s of each and the
ratio engine/plain.
GPU mode (--gpu): full-size SD 1.5 and SDXL with random weights (no download), 25 steps, batches 1/4/8,
eager and optimised (channels_last, fused QKV, torch.compile); prints images/s, it/s, peak memory and the
share of the device's peak FLOP/s that the UNet work reaches. `--families flux` adds a full-size FLUX.1-dev
transformer at 1024², 28 steps (scripts/bench_flux.py).

Usage: PYTHONPATH=. python scripts/bench_engine.py [--gpu] [--model tiny-flux] [--repeats N] [--peak-tflops 800]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from engine.catalog import ModelSpec, family_preset, get_preset
from engine.diffusion.loading import load_folder
from engine.diffusion.pipelines import PipelineManager
from engine.tiny.models import write_byte_tokenizer
from engine.types import GenerateRequest

PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_pair(engine_fn, plain_fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """Median seconds per call of each, run alternately so that load from other processes hits both alike."""
    engine_fn()  # warm-up (and compilation, when enabled)
    plain_fn()
    times: dict[str, list[float]] = {"engine": [], "plain": []}
    for _ in range(repeats):
        for key, fn in (("engine", engine_fn), ("plain", plain_fn)):
            _sync(device)
            started = time.perf_counter()
            fn()
            _sync(device)
            times[key].append(time.perf_counter() - started)
    return statistics.median(times["engine"]), statistics.median(times["plain"])


def _time(fn, device: torch.device, repeats: int) -> float:
    fn()
    _sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - started) / repeats


def _plain_call(pipe, count: int, steps: int, guidance: float, size: tuple[int, int], seed: int, **extra):
    generators = [torch.Generator("cpu").manual_seed(seed + i) for i in range(count)]
    return pipe(
        PROMPT,
        num_inference_steps=steps,
        guidance_scale=guidance,
        width=size[0],
        height=size[1],
        num_images_per_prompt=count,
        generator=generators,
        **extra,
    ).images


def bench_cpu(repeats: int, count: int, steps: int, model: str = "tiny-sd") -> None:
    from engine.families.registry import family_of

    with tempfile.TemporaryDirectory() as cache:
        spec = ModelSpec.from_preset(get_preset(model))
        options = family_of(spec.family).call_options(spec.preset)
        manager = PipelineManager("cpu", cache_dir=cache)
        engine_pipe = manager.pipeline(spec)
        plain = load_folder(Path(cache) / "builtin" / model, spec.family)
        plain.set_progress_bar_config(disable=True)
        plain.scheduler = type(engine_pipe.scheduler).from_config(engine_pipe.scheduler.config)
        size = spec.preset.default_size
        request = GenerateRequest(PROMPT, spec.name, count=count, seed=0, steps=steps)
        guidance = spec.preset.guidance
        t_engine, t_plain = _time_pair(
            lambda: manager.generate(request, spec),
            lambda: _plain_call(plain, count, steps, guidance, size, 0, **options),
            torch.device("cpu"),
            repeats,
        )
        print(f"{model} on CPU ({torch.get_num_threads()} threads), {size[0]}x{size[1]}, {steps} steps, batch {count}")
        print(f"  engine: {count / t_engine:8.2f} images/s  ({t_engine * 1000:.0f} ms per call)")
        print(f"  plain:  {count / t_plain:8.2f} images/s  ({t_plain * 1000:.0f} ms per call)")
        print(f"  engine/plain: {t_plain / t_engine:.3f}")


# --- GPU mode --------------------------------------------------------------------------------------------------


def _full_size_pipeline(family: str, work: Path, dtype: torch.dtype):
    """A full-size pipeline of `family` with random weights (byte-level tokenizer, real component sizes)."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    write_byte_tokenizer(work / "tok")
    tok = CLIPTokenizer.from_pretrained(str(work / "tok"), model_max_length=77)
    ids = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        force_upcast=False,
    )
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    te1 = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, **ids))
    if family == "sd15":
        unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64)
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=te1,
            tokenizer=tok,
            unet=unet,
            scheduler=sched,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    else:
        te2 = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_attention_heads=20,
                num_hidden_layers=32,
                projection_dim=1280,
                **ids,
            )
        )
        unet = UNet2DConditionModel(
            sample_size=128,
            block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
        pipe = StableDiffusionXLPipeline(
            vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=sched
        )
    pipe.to(dtype)
    folder = work / family
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def _unet_flops(pipe, size: tuple[int, int], device: torch.device, dtype: torch.dtype) -> float:
    """FLOPs of one UNet forward for one image (batch 1, no guidance)."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = pipe.unet
    latent = torch.zeros(1, 4, size[1] // 8, size[0] // 8, device=device, dtype=dtype)
    text = torch.zeros(1, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)
    extra = {}
    if unet.config.addition_embed_type == "text_time":
        extra["added_cond_kwargs"] = {
            "text_embeds": torch.zeros(1, 1280, device=device, dtype=dtype),
            "time_ids": torch.zeros(1, 6, device=device, dtype=dtype),
        }
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(latent, torch.tensor([500], device=device), text, **extra)
    return float(counter.get_total_flops())


def bench_gpu(repeats: int, steps: int, peak_tflops: float, families: list[str]) -> None:
    device = torch.device("cuda")
    dtype = torch.bfloat16  # random weights overflow less in bf16 than in fp16
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for family in families:
            if family == "flux":
                from bench_flux import bench_flux  # type: ignore[import-not-found]  # scripts/ beside this one

                bench_flux(device, dtype, repeats, 28, peak_tflops)
            else:
                _bench_gpu_family(family, work, device, dtype, repeats, steps, peak_tflops)
            torch.cuda.empty_cache()


def _bench_gpu_family(
    family: str, work: Path, device: torch.device, dtype: torch.dtype, repeats: int, steps: int, peak_tflops: float
) -> None:
    preset = family_preset(family)
    folder = _full_size_pipeline(family, work, dtype)
    spec = ModelSpec(name=f"random-{family}", family=family, source=str(folder), preset=preset)
    size = preset.default_size
    plain = load_folder(folder, family, dtype=dtype).to(device)
    plain.set_progress_bar_config(disable=True)
    flops_img = 2 * steps * _unet_flops(plain, size, device, dtype)  # x2: classifier-free guidance
    print(f"{family} on {torch.cuda.get_device_name(device)}: {size[0]}x{size[1]}, {steps} steps, {dtype}")
    print(f"  UNet work {flops_img / 1e12:.1f} TFLOP per image; peak taken as {peak_tflops:g} TFLOP/s")
    for optimize in (False, True):
        manager = PipelineManager(device, dtype, cache_dir=work / "cache", optimize=optimize)
        label = "optimised" if optimize else "eager"
        for batch in (1, 4, 8):
            request = GenerateRequest(PROMPT, spec.name, count=batch, seed=0, steps=steps)
            torch.cuda.reset_peak_memory_stats(device)
            if optimize:
                t_engine = _time(lambda r=request, m=manager: m.generate(r, spec), device, repeats)
            else:
                t_engine, t_plain = _time_pair(
                    lambda r=request, m=manager: m.generate(r, spec),
                    lambda b=batch: _plain_call(plain, b, steps, preset.guidance, size, 0),
                    device,
                    repeats,
                )
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            share = batch * flops_img / t_engine / (peak_tflops * 1e12)
            line = (
                f"  {label:9} batch {batch}: {batch / t_engine:6.2f} images/s, {steps / t_engine:6.2f} it/s, "
                f"peak {peak:5.1f} GiB, {share:5.1%} of peak FLOP/s"
            )
            if not optimize:
                line += f"; plain {batch / t_plain:6.2f} images/s, engine/plain {t_plain / t_engine:.3f}"
            print(line, flush=True)
        manager.unload_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="full-size random SD 1.5 and SDXL on CUDA")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=4, help="CPU mode batch size")
    parser.add_argument("--steps", type=int, default=None, help="default: 4 on CPU, 25 on GPU")
    parser.add_argument("--peak-tflops", type=float, default=800.0, help="device peak (bf16 dense) in TFLOP/s")
    parser.add_argument("--families", default="sd15,sdxl,flux")
    parser.add_argument("--model", default="tiny-sd", help="CPU mode: tiny-sd, tiny-sdxl or tiny-flux")
    args = parser.parse_args()
    if args.gpu:
        bench_gpu(args.repeats, args.steps or 25, args.peak_tflops, args.families.split(","))
    else:
        bench_cpu(args.repeats, args.count, args.steps or 4, args.model)


if __name__ == "__main__":
    main()
