"""How much each weight format of the FLUX.1 memory plans rounds a linear layer's output (CPU, no model needed).

A 3072×3072 layer (FLUX.1's width) with Gaussian weights at the given standard deviations, 64 random inputs; prints
the relative error ‖x·Wq − x·W‖ / ‖x·W‖ for fp8 storage (diffusers' layerwise casting: e4m3 with no scale), int8
with one scale per output row (what torchao's weight-only int8 stores) and nf4 in blocks of 64 (bitsandbytes).

Usage: PYTHONPATH=. python scripts/bench_quant_error.py [--stds 0.01,0.02,0.05]
"""

from __future__ import annotations

import argparse

import torch


def errors(std: float, width: int = 3072, seed: int = 0) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(width, width, generator=g) * std
    x = torch.randn(64, width, generator=g)
    ref = x @ w.T

    def rel(rounded: torch.Tensor) -> float:
        return float((x @ rounded.T - ref).norm() / ref.norm())

    found = {"fp8 storage": rel(w.to(torch.float8_e4m3fn).float())}
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    found["int8 per row"] = rel((w / scale).round().clamp(-127, 127) * scale)
    try:
        import bitsandbytes.functional as bnb_f

        packed, state = bnb_f.quantize_4bit(w.to(torch.bfloat16), quant_type="nf4")
        found["nf4 (bnb)"] = rel(bnb_f.dequantize_4bit(packed, state).float())
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stds", default="0.01,0.02,0.05")
    args = parser.parse_args()
    for std in (float(s) for s in args.stds.split(",")):
        row = ", ".join(f"{name} {value:.2%}" for name, value in errors(std).items())
        print(f"weights std {std:g}: {row}")


if __name__ == "__main__":
    main()
