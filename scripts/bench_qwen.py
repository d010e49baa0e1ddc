"""Benchmark Qwen-Image at full size on a GPU: plain diffusers eager against the engine, eager and compiled, with
their peak memory against the memory plan's estimate.

The transformer has Qwen-Image's real shape (20.4 B parameters, bf16: the class defaults), the text encoder
Qwen2.5-VL-7B's (28 layers of width 3584, and its 32-layer vision tower), the VAE Qwen-Image's (the class
defaults), all with random weights, so nothing is downloaded. Every step runs twice (true CFG 4 against a blank
negative prompt, as the model card does). Prints s/image, it/s, peak memory and the share of the device's peak FLOP/s
the transformer's work reaches. An 80 GB card holds it all resident: the peak checks the plan's estimate
(engine/families/qwen/memory_plan.py, ~61 GiB at 1328²).

Usage: PYTHONPATH=. python scripts/bench_qwen.py [--repeats 1] [--steps 20] [--peak-tflops 989] [--tiny]
`--tiny` runs the same code on the tiny configuration on the CPU (a smoke test of this script, not a figure).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

PROMPT = 'a bookshop window with a hand-painted sign that reads "Open late", photo'
GUIDANCE = 4.0  # the model card's true CFG scale


def build(device: torch.device, dtype: torch.dtype, *, tiny: bool, work: Path) -> Any:
    """Qwen-Image's text-to-image pipeline as the engine runs it, with random weights on `device`: the real shape,
    or the tiny test model's."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from engine.families.qwen.pipelines import QwenImageTrueCfgPipeline
    from engine.tiny.qwen import build_tiny_qwen_pipeline, qwen_scheduler, qwen_vl_tokenizer

    if tiny:
        pipe = QwenImageTrueCfgPipeline(**build_tiny_qwen_pipeline(work).components).to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe
    tok = qwen_vl_tokenizer(work / "qwen")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the run dtype: 29 B parameters in fp32 would need 115 GB
    try:
        with torch.device(device):
            transformer = QwenImageTransformer2DModel(out_channels=16)  # 60 blocks of 3072: Qwen-Image's shape
            text_encoder = Qwen2_5_VLForConditionalGeneration(
                Qwen2_5_VLConfig(
                    text_config={"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                                 "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152_064,
                                 "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default",
                                                  "type": "default"}},
                    vision_config={"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                                   "out_hidden_size": 3584, "fullatt_block_indexes": [7, 15, 23, 31]},
                    vocab_size=152_064,
                )
            )  # fmt: skip
            vae = AutoencoderKLQwenImage()  # the class defaults are Qwen-Image's VAE
    finally:
        torch.set_default_dtype(previous)
    pipe = QwenImageTrueCfgPipeline(
        scheduler=qwen_scheduler(), vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tok,
        transformer=transformer.eval(),
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def transformer_flops(pipe: Any, size: int, text_tokens: int) -> float:
    """FLOPs of one transformer forward for one image (counted by torch on the real module)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = pipe.transformer
    device, dtype = model.device, model.dtype
    side = size // 16  # 8× VAE, 2×2 patches
    x = torch.zeros(1, side * side, model.config.in_channels, device=device, dtype=dtype)
    text = torch.zeros(1, text_tokens, model.config.joint_attention_dim, device=device, dtype=dtype)
    mask = torch.ones(1, text_tokens, device=device, dtype=torch.long)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, text, mask, torch.tensor([0.5], device=device, dtype=dtype), img_shapes=[[(1, side, side)]])
    return float(counter.get_total_flops())


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def bench_qwen(device: torch.device, dtype: torch.dtype, repeats: int, steps: int, peak_tflops: float, *,
               tiny: bool = False) -> None:  # fmt: skip
    import bench_engine  # type: ignore[import-not-found]  # scripts/ beside this one
    from diffusers import QwenImagePipeline

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion import pipelines
    from engine.diffusion.device import module_gb
    from engine.diffusion.pipelines import PipelineManager
    from engine.families.qwen.memory_plan import plan_qwen_memory
    from engine.families.qwen.placement import qwen_sizes
    from engine.types import GenerateRequest

    preset = get_preset("tiny-qwen" if tiny else "qwen-image")
    size, text = preset.default_size[0], 40  # a short prompt: its tokens are passed unpadded
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build(device, dtype, tiny=tiny, work=Path(tmp))
        flops = 2 * steps * transformer_flops(pipe, size, text)  # true CFG: two passes a step
        planned = plan_qwen_memory(1e6, width=size, height=size, sizes=qwen_sizes(pipe)).need_gb
        # The engine loads from disk; here it gets the pipeline in memory (58 GB are not worth a save and load). Its
        # plan sees the memory free before the weights moved, as after a load from disk: the weights stay resident.
        original, free_gb = pipelines.load_base_pipeline, pipelines._free_gb
        on_device = sum(module_gb(c) for c in pipe.components.values() if isinstance(c, torch.nn.Module))
        pipelines.load_base_pipeline = lambda spec, **_kw: pipe
        pipelines._free_gb = lambda dev: None if (free := free_gb(dev)) is None else free + on_device
        try:
            spec = ModelSpec(name="random-qwen-image", family=preset.family, source="memory", preset=preset)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            print(f"Qwen-Image shape on {name}: {size}x{size}, {steps} steps × 2 (true CFG {GUIDANCE:g}), {dtype}")
            print(f"  transformer work {flops / 1e12:.2f} TFLOP per image; peak taken as {peak_tflops:g} TFLOP/s")
            request = GenerateRequest(PROMPT, spec.name, count=1, seed=0, steps=steps)
            generator = torch.Generator("cpu")

            def plain() -> None:  # diffusers' own call, as its documentation shows it
                QwenImagePipeline.__call__(
                    pipe, PROMPT, negative_prompt=" ", true_cfg_scale=GUIDANCE, num_inference_steps=steps,
                    width=size, height=size, generator=generator.manual_seed(0),
                )  # fmt: skip

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
                    f"  engine {'eager' if level == 'off' else 'compiled':8}: {t_engine:7.2f} s/image, "
                    f"{steps / t_engine:6.2f} it/s, peak {_peak_gib(device):5.1f} GiB, {share:5.1%} of peak FLOP/s"
                )
                line += f"; plain eager {eager:7.2f} s/image" if level == "off" else f"; {eager / t_engine:.2f}×"
                print(line, flush=True)
                manager._loaded.clear()  # the pipeline is shared: keep its weights for the next round
        finally:
            pipelines.load_base_pipeline, pipelines._free_gb = original, free_gb
        if device.type != "cuda":
            print("  memory plan check: skipped, peak memory needs a CUDA GPU")
            return
        verdict = "holds" if _peak_gib(device) <= planned else "is EXCEEDED"
        print(f"  memory plan check: resident estimate ~{planned:.1f} GiB {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20, help="fewer than the card's 50: the time scales per step")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="device peak (bf16 dense), H100/H200: 989")
    parser.add_argument("--tiny", action="store_true", help="the tiny configuration on the CPU (smoke test)")
    args = parser.parse_args()
    if args.tiny:
        torch.set_num_threads(1)
        bench_qwen(torch.device("cpu"), torch.float32, args.repeats, 2, args.peak_tflops, tiny=True)
    else:
        bench_qwen(torch.device("cuda"), torch.bfloat16, args.repeats, args.steps, args.peak_tflops)


if __name__ == "__main__":
    main()
