"""Benchmark FLUX.1-dev at full size on a GPU: plain diffusers eager against the engine, eager, compiled and in fp8.

The transformer has FLUX.1-dev's real shape (11.9 B parameters, bf16) with random weights, so nothing is downloaded;
CLIP-L and the VAE are full size; T5 keeps FLUX's width (4096) with one layer, since 28 transformer steps dwarf one
prompt's encoding. Prints s/image, it/s, peak memory and the share of the device's peak FLOP/s the transformer's
work reaches (74.4 TFLOP a forward at 1024² with 512 text tokens, flux notes §6). The engine runs at the levels
`off` (eager), `compile` (regional torch.compile, fused QKV, channels-last VAE) and `max` (+ fp8 compute through
torchao, on Ada/Hopper GPUs only): the STUDIO_OPTIMIZE settings a user picks.

Usage: PYTHONPATH=. python scripts/bench_flux.py [--repeats 2] [--peak-tflops 989] [--tiny]
`--tiny` runs the same code on the tiny configuration on the CPU (a smoke test of this script, not a figure).
Anchors (flux notes §6): H100 6.7 s eager, 4.3 s compiled; fp8 + compile about 2.5× over eager.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def build(device: torch.device, dtype: torch.dtype, *, tiny: bool, work: Path) -> Any:
    """A FluxPipeline with random weights on `device`: full-size transformer, or the tiny test configuration."""
    from diffusers import AutoencoderKL, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from engine.tiny.flux import flux_scheduler, t5_tokenizer
    from engine.tiny.models import clip_tokenizer

    tok = clip_tokenizer(work / "clip")
    t5_tok = t5_tokenizer()
    width = 32 if tiny else 4096  # T5's width is the transformer's joint attention width
    pooled = 32 if tiny else 768
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the run dtype: 12 B parameters in fp32 would need 48 GB
    try:
        with torch.device(device):
            shape: dict[str, Any] = {"guidance_embeds": True}  # the class defaults are FLUX.1-dev's shape
            if tiny:
                shape |= {
                    "num_layers": 1, "num_single_layers": 1, "attention_head_dim": 16, "num_attention_heads": 2,
                    "joint_attention_dim": 32, "pooled_projection_dim": 32, "axes_dims_rope": (4, 6, 6),
                }  # fmt: skip
            transformer = FluxTransformer2DModel(**shape)
            clip = CLIPTextModel(
                CLIPTextConfig(
                    hidden_size=pooled, projection_dim=pooled, intermediate_size=37 if tiny else 3072,
                    num_attention_heads=4 if tiny else 12, num_hidden_layers=2 if tiny else 12,
                    vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                )
            )  # fmt: skip
            t5 = T5EncoderModel(
                T5Config(d_model=width, d_kv=8 if tiny else 64, d_ff=37 if tiny else 10240, num_layers=1,
                         num_heads=4 if tiny else 64, vocab_size=len(t5_tok))
            )  # fmt: skip
            channels = (8, 8, 8, 8) if tiny else (128, 256, 512, 512)
            vae = AutoencoderKL(
                block_out_channels=channels, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1 if tiny else 2, latent_channels=16,
                norm_num_groups=4 if tiny else 32, use_quant_conv=False, use_post_quant_conv=False,
                scaling_factor=0.3611, shift_factor=0.1159,
            )  # fmt: skip
    finally:
        torch.set_default_dtype(previous)
    pipe = FluxPipeline(
        scheduler=flux_scheduler(), vae=vae.eval(), text_encoder=clip.eval(), tokenizer=tok,
        text_encoder_2=t5.eval(), tokenizer_2=t5_tok, transformer=transformer.eval(),
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def transformer_flops(pipe: Any, size: int, text_tokens: int) -> float:
    """FLOPs of one transformer forward for one image (counted by torch on the real module)."""
    from torch.utils.flop_counter import FlopCounterMode

    from engine.families.flux.training_recipe import grid_ids, pack

    model = pipe.transformer
    device, dtype = model.device, model.dtype
    latent = size // 8
    latents = torch.zeros(1, 16, latent, latent, device=device, dtype=dtype)
    joint = model.config.joint_attention_dim
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(
            hidden_states=pack(latents),
            encoder_hidden_states=torch.zeros(1, text_tokens, joint, device=device, dtype=dtype),
            pooled_projections=torch.zeros(1, model.config.pooled_projection_dim, device=device, dtype=dtype),
            timestep=torch.tensor([0.5], device=device, dtype=dtype),
            img_ids=grid_ids(latent, latent, device, dtype),
            txt_ids=torch.zeros(text_tokens, 3, device=device, dtype=dtype),
            guidance=torch.tensor([3.5], device=device, dtype=dtype),
        )
    return float(counter.get_total_flops())


def bench_flux(device: torch.device, dtype: torch.dtype, repeats: int, steps: int, peak_tflops: float, *,
               tiny: bool = False) -> None:  # fmt: skip
    import bench_engine  # type: ignore[import-not-found]  # scripts/ beside this one

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion import pipelines
    from engine.diffusion.pipelines import PipelineManager
    from engine.diffusion.quantize import fp8_compute_refusal
    from engine.types import GenerateRequest

    preset = get_preset("tiny-flux" if tiny else "flux-dev")
    size, text = preset.default_size[0], preset.max_sequence_length or 512
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build(device, dtype, tiny=tiny, work=Path(tmp))
        flops = steps * transformer_flops(pipe, size, text)
        # The engine loads from disk; here it gets the pipeline in memory (22 GB are not worth a save and load).
        original = pipelines.load_base_pipeline
        pipelines.load_base_pipeline = lambda spec, **_kw: pipe
        try:
            spec = ModelSpec(name="random-flux-dev", family="flux", source="memory", preset=preset)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            print(f"FLUX.1-dev shape on {name}: {size}x{size}, {steps} steps, {text} text tokens, {dtype}")
            print(f"  transformer work {flops / 1e12:.1f} TFLOP per image; peak taken as {peak_tflops:g} TFLOP/s")
            request = GenerateRequest(PROMPT, spec.name, count=1, seed=0, steps=steps)

            def plain() -> None:
                bench_engine._plain_call(pipe, 1, steps, preset.guidance, (size, size), 0, max_sequence_length=text)

            eager = 0.0
            # fp8 compute quantizes the shared transformer in place, so `max` runs last.
            for level in ("off", "compile", "max"):
                refusal = fp8_compute_refusal(device)
                if level == "max" and refusal is not None:
                    print(f"  engine fp8+compile: skipped, {refusal}", flush=True)
                    continue
                manager = PipelineManager(device, dtype, cache_dir=Path(tmp) / "cache", optimize=level)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                run = lambda m=manager: m.generate(request, spec)  # noqa: E731
                if level == "off":
                    t_engine, t_plain = bench_engine._time_pair(run, plain, device, repeats)
                else:
                    t_engine = bench_engine._time(run, device, repeats)
                peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
                share = flops / t_engine / (peak_tflops * 1e12)
                label = {"off": "eager", "compile": "compiled", "max": "fp8+compile"}[level]
                line = (
                    f"  engine {label:11}: {t_engine:6.2f} s/image, {steps / t_engine:6.2f} it/s, "
                    f"peak {peak:5.1f} GiB, {share:5.1%} of peak FLOP/s"
                )
                if level == "off":
                    line += f"; plain eager {t_plain:6.2f} s/image, engine/plain {t_plain / t_engine:.3f}"
                    eager = t_plain
                else:
                    line += f"; {eager / t_engine:.2f}× plain eager"
                print(line, flush=True)
                manager._loaded.clear()  # the pipeline is shared: keep its weights for the next round
        finally:
            pipelines.load_base_pipeline = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="device peak (bf16 dense), H100/H200: 989")
    parser.add_argument("--tiny", action="store_true", help="the tiny configuration on the CPU (smoke test)")
    args = parser.parse_args()
    if args.tiny:
        torch.set_num_threads(1)
        bench_flux(torch.device("cpu"), torch.float32, args.repeats, 2, args.peak_tflops, tiny=True)
    else:
        bench_flux(torch.device("cuda"), torch.bfloat16, args.repeats, args.steps, args.peak_tflops)


if __name__ == "__main__":
    main()
