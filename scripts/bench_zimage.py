"""Benchmark Z-Image Turbo at full size on a GPU: plain diffusers eager against the engine, eager and compiled, and
the 16 GB card's plan (model CPU offload), with its peak memory.

The transformer has Z-Image Turbo's real shape (6.15 B parameters, bf16: the class defaults) and the text encoder
Qwen3-4B's (36 layers, width 2560), both with random weights, so nothing is downloaded; the VAE is FLUX.1's shape.
Prints s/image, it/s, peak memory and the share of the device's peak FLOP/s the transformer's work reaches. The
offload row checks the memory plan's claim (engine/families/zimage/memory_plan.py): one 1024² image with model
offload peaks under the ~14.5 GiB a 16 GB card has free.

Usage: PYTHONPATH=. python scripts/bench_zimage.py [--repeats 2] [--steps 8] [--peak-tflops 989] [--tiny]
`--tiny` runs the same code on the tiny configuration on the CPU (a smoke test of this script, not a figure).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
CARD_16_GB_FREE = 14.5  # GiB a 16 GB card has free for the model (16e9 bytes are 14.9 GiB)


def build(device: torch.device, dtype: torch.dtype, *, tiny: bool, work: Path) -> Any:
    """A ZImagePipeline with random weights on `device`: Turbo's shape, or the tiny test model's."""
    from diffusers import AutoencoderKL, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    from engine.tiny.zimage import build_tiny_zimage_pipeline, qwen_tokenizer, zimage_scheduler

    if tiny:
        pipe = build_tiny_zimage_pipeline("tiny-zimage", work).to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe
    tok = qwen_tokenizer(work / "qwen")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the run dtype: 10 B parameters in fp32 would need 40 GB
    try:
        with torch.device(device):
            transformer = ZImageTransformer2DModel()  # the class defaults are Z-Image Turbo's shape
            qwen = Qwen3Model(
                Qwen3Config(vocab_size=151_936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                            num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True)
            )  # fmt: skip
            vae = AutoencoderKL(
                block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=16,
                use_quant_conv=False, use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159,
            )  # fmt: skip
    finally:
        torch.set_default_dtype(previous)
    pipe = ZImagePipeline(
        scheduler=zimage_scheduler(), vae=vae.eval(), text_encoder=qwen.eval(), tokenizer=tok,
        transformer=transformer.eval(),
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def transformer_flops(pipe: Any, size: int, text_tokens: int) -> float:
    """FLOPs of one transformer forward for one image (counted by torch on the real module)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = pipe.transformer
    device, dtype = model.device, model.dtype
    latent = size // 8
    x = [torch.zeros(model.in_channels, 1, latent, latent, device=device, dtype=dtype)]
    caption = [torch.zeros(text_tokens, model.config.cap_feat_dim, device=device, dtype=dtype)]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, torch.tensor([0.5], device=device, dtype=dtype), caption)
    return float(counter.get_total_flops())


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def bench_zimage(device: torch.device, dtype: torch.dtype, repeats: int, steps: int, peak_tflops: float, *,
                 tiny: bool = False) -> None:  # fmt: skip
    import bench_engine  # type: ignore[import-not-found]  # scripts/ beside this one

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion import pipelines
    from engine.diffusion.pipelines import PipelineManager
    from engine.types import GenerateRequest

    preset = get_preset("tiny-zimage" if tiny else "zimage-turbo")
    size, text = preset.default_size[0], 32  # a short prompt: Z-Image passes its tokens unpadded
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build(device, dtype, tiny=tiny, work=Path(tmp))
        flops = steps * transformer_flops(pipe, size, text)
        # The engine loads from disk; here it gets the pipeline in memory (19 GB are not worth a save and load).
        original = pipelines.load_base_pipeline
        pipelines.load_base_pipeline = lambda spec, **_kw: pipe
        try:
            spec = ModelSpec(name="random-zimage-turbo", family=preset.family, source="memory", preset=preset)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            print(f"Z-Image Turbo shape on {name}: {size}x{size}, {steps} steps, ~{text} text tokens, {dtype}")
            print(f"  transformer work {flops / 1e12:.2f} TFLOP per image; peak taken as {peak_tflops:g} TFLOP/s")
            request = GenerateRequest(PROMPT, spec.name, count=1, seed=0, steps=steps)

            def plain() -> None:
                bench_engine._plain_call(pipe, 1, steps, 0.0, (size, size), 0)

            eager = 0.0
            for level in ("off", "compile"):
                manager = PipelineManager(device, dtype, cache_dir=Path(tmp) / "cache", optimize=level)
                _reset_peak(device)
                run = lambda m=manager: m.generate(request, spec)  # noqa: E731
                if level == "off":
                    t_engine, eager = bench_engine._time_pair(run, plain, device, repeats)
                else:
                    t_engine = bench_engine._time(run, device, repeats)
                share = flops / t_engine / (peak_tflops * 1e12)
                line = (
                    f"  engine {'eager' if level == 'off' else 'compiled':8}: {t_engine:6.2f} s/image, "
                    f"{steps / t_engine:6.2f} it/s, peak {_peak_gib(device):5.1f} GiB, {share:5.1%} of peak FLOP/s"
                )
                line += f"; plain eager {eager:6.2f} s/image" if level == "off" else f"; {eager / t_engine:.2f}×"
                print(line, flush=True)
                manager._loaded.clear()  # the pipeline is shared: keep its weights for the next round
        finally:
            pipelines.load_base_pipeline = original
        if device.type != "cuda":
            print("  16 GB card plan (model offload): skipped, offload needs a CUDA GPU")
            return
        pipe.to("cpu")
        torch.cuda.empty_cache()
        pipe.enable_model_cpu_offload(device=device)
        _reset_peak(device)
        t_offload = bench_engine._time(plain, device, repeats)
        peak = _peak_gib(device)
        verdict = "fits" if peak <= CARD_16_GB_FREE else "does NOT fit"
        print(f"  16 GB card plan (model offload): {t_offload:6.2f} s/image, peak {peak:5.1f} GiB: {verdict} "
              f"in {CARD_16_GB_FREE} GiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="device peak (bf16 dense), H100/H200: 989")
    parser.add_argument("--tiny", action="store_true", help="the tiny configuration on the CPU (smoke test)")
    args = parser.parse_args()
    if args.tiny:
        torch.set_num_threads(1)
        bench_zimage(torch.device("cpu"), torch.float32, args.repeats, 2, args.peak_tflops, tiny=True)
    else:
        bench_zimage(torch.device("cuda"), torch.bfloat16, args.repeats, args.steps, args.peak_tflops)


if __name__ == "__main__":
    main()
