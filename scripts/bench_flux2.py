"""Benchmark FLUX.2 [klein] at full size on a GPU: plain diffusers eager against the engine (eager and compiled),
for text-to-image and for an edit from one and from two reference images.

The transformer and the Qwen3 text encoder have the real models' shapes with random weights, so nothing is
downloaded: klein 4B is 5 double and 20 single blocks 3072 wide over Qwen3-4B (36 layers, 2560 wide); klein 9B is
8 double and 24 single blocks 4096 wide over Qwen3-8B (36 layers, 4096 wide). These shapes are read off the
parameter counts the model cards give (4 B, 9 B); check them against the hub's config.json when the weights are
at hand. The VAE is FLUX.2's full-size one. Prints s/image, it/s and peak memory per case.

Usage: PYTHONPATH=. python scripts/bench_flux2.py [--variant 4b|9b] [--repeats 2] [--steps 4] [--tiny]
`--tiny` runs the same code on tiny-flux2's configuration on the CPU (a smoke test of this script, not a figure).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
SHAPES: dict[str, dict[str, Any]] = {
    # transformer blocks and width; the Qwen3 encoder's width, layers, heads and feed-forward
    # (3.88 B and 9.08 B transformer parameters; Qwen3-4B 4.02 B with tied embeddings, Qwen3-8B 8.19 B untied)
    "4b": {"double": 5, "single": 20, "heads": 24, "text": 2560, "text_heads": 32, "text_ff": 9728, "tied": True},
    "9b": {"double": 8, "single": 24, "heads": 32, "text": 4096, "text_heads": 32, "text_ff": 12288, "tied": False},
}


def build(device: torch.device, dtype: torch.dtype, *, variant: str, tiny: bool, work: Path) -> Any:
    """A Flux2KleinPipeline with random weights on `device`: the variant's full shape, or tiny-flux2's."""
    from diffusers import AutoencoderKLFlux2, Flux2KleinPipeline, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from engine.tiny.flux import flux_scheduler
    from engine.tiny.flux2 import build_tiny_flux2_pipeline, qwen_tokenizer

    if tiny:
        pipe = build_tiny_flux2_pipeline(work)  # built in fp32 on the CPU, as the smoke test runs
        pipe.set_progress_bar_config(disable=True)
        return pipe
    shape = SHAPES[variant]
    tokenizer = qwen_tokenizer(work / "qwen")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the run dtype: 9 B parameters in fp32 would need 36 GB
    try:
        with torch.device(device):
            transformer = Flux2Transformer2DModel(
                num_layers=shape["double"], num_single_layers=shape["single"], num_attention_heads=shape["heads"],
                joint_attention_dim=3 * shape["text"], guidance_embeds=False,
            )  # fmt: skip
            text_encoder = Qwen3ForCausalLM(
                Qwen3Config(
                    vocab_size=151936, hidden_size=shape["text"], intermediate_size=shape["text_ff"],
                    num_hidden_layers=36, num_attention_heads=shape["text_heads"], num_key_value_heads=8,
                    head_dim=128, max_position_embeddings=40960, tie_word_embeddings=shape["tied"],
                )
            )  # fmt: skip
            vae = AutoencoderKLFlux2()  # the class defaults are FLUX.2's VAE
    finally:
        torch.set_default_dtype(previous)
    pipe = Flux2KleinPipeline(
        scheduler=flux_scheduler(), vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
        transformer=transformer.eval(), is_distilled=True,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bench(device: torch.device, dtype: torch.dtype, variant: str, repeats: int, steps: int, *, tiny: bool) -> None:
    import bench_engine  # type: ignore[import-not-found]  # scripts/ beside this one
    from PIL import Image

    from engine.catalog import ModelSpec, get_preset
    from engine.diffusion import pipelines
    from engine.diffusion.device import module_gb
    from engine.diffusion.pipelines import PipelineManager
    from engine.types import GenerateRequest

    preset = get_preset("tiny-flux2" if tiny else f"flux2-klein-{variant}")
    size, text = preset.default_size[0], preset.max_sequence_length or 512
    references = [Image.new("RGB", (size, size), colour) for colour in ((200, 60, 40), (40, 90, 200))]
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build(device, dtype, variant=variant, tiny=tiny, work=Path(tmp))
        gb = {name: module_gb(getattr(pipe, name)) for name in ("transformer", "text_encoder", "vae")}
        original = pipelines.load_base_pipeline
        pipelines.load_base_pipeline = lambda spec, **_kw: pipe  # in memory: not worth a save and load
        try:
            spec = ModelSpec(name=f"random-klein-{variant}", family="flux2", source="memory", preset=preset)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            sizes = ", ".join(f"{k} {v:.1f} GiB" for k, v in gb.items())
            print(f"FLUX.2 [klein] {variant} shape on {name}: {size}x{size}, {steps} steps, {text} text tokens, "
                  f"{dtype}; {sizes}")  # fmt: skip
            cases = {"txt2img": [], "1 reference": references[:1], "2 references": references}
            for level in ("off", "compile"):
                manager = PipelineManager(device, dtype, cache_dir=Path(tmp) / "cache", optimize=level)
                for case, refs in cases.items():
                    edit = {"init_image": refs[0], "instruct": True, "references": tuple(refs[1:])} if refs else {}
                    request = GenerateRequest(
                        PROMPT, spec.name, count=1, seed=0, steps=steps, width=size, height=size, **edit
                    )
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    run = lambda m=manager, r=request: m.generate(r, spec)  # noqa: E731
                    line = f"  engine {'eager' if level == 'off' else 'compiled':8} {case:12}: "
                    if level == "off":
                        extra = {"image": refs} if refs else {}

                        def plain(extra: dict[str, Any] = extra) -> None:
                            # Keywords only: klein's first positional argument is the image, not the prompt.
                            pipe(
                                prompt=PROMPT, num_inference_steps=steps, guidance_scale=preset.guidance, width=size,
                                height=size, generator=[torch.Generator("cpu").manual_seed(0)],
                                max_sequence_length=text, **extra,
                            )  # fmt: skip

                        t_engine, t_plain = bench_engine._time_pair(run, plain, device, repeats)
                        tail = f"; plain eager {t_plain:6.2f} s/image, engine/plain {t_plain / t_engine:.3f}"
                    else:
                        t_engine, tail = bench_engine._time(run, device, repeats), ""
                    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
                    print(f"{line}{t_engine:6.2f} s/image, {steps / t_engine:6.2f} it/s, peak {peak:5.1f} GiB{tail}",
                          flush=True)  # fmt: skip
                manager._loaded.clear()  # the pipeline is shared: keep its weights for the next round
        finally:
            pipelines.load_base_pipeline = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(SHAPES), default="4b")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="tiny-flux2's configuration on the CPU (smoke test)")
    args = parser.parse_args()
    if args.tiny:
        torch.set_num_threads(1)
        bench(torch.device("cpu"), torch.float32, args.variant, args.repeats, 2, tiny=True)
    else:
        bench(torch.device("cuda"), torch.bfloat16, args.variant, args.repeats, args.steps, tiny=False)


if __name__ == "__main__":
    main()
