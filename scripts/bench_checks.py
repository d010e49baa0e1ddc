"""Benchmark the checks before training (engine.training.checks) on a synthetic set of 30 images.

Each size is a set of 30 noisy PNGs (or JPEGs); prints the median seconds per image over the repeats, without
an embedder and with the tiny random CLIP (a real CLIP's cost is the model's, measured on a GPU machine).

Usage: PYTHONPATH=. python scripts/bench_checks.py [--repeats 3] [--sizes 512,1024,2048]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine.training.checks import check_images
from engine.vision.embedder import tiny_clip_embedder

SET_SIZE = 30


def _make_set(folder: Path, side: int, fmt: str) -> list[Path]:
    rng = np.random.default_rng(side)
    paths = []
    for n in range(SET_SIZE):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        path = folder / f"{n}.{fmt.lower()}"
        Image.fromarray(pixels).save(path, format="JPEG" if fmt == "JPG" else fmt)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="512,1024,2048")
    args = parser.parse_args()
    embedder = tiny_clip_embedder()
    print(f"{'image':>14}  {'no embedder ms/img':>18}  {'tiny CLIP ms/img':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for side in (int(s) for s in args.sizes.split(",")):
            for fmt in ("PNG", "JPG"):
                folder = Path(tmp) / f"{side}{fmt}"
                folder.mkdir()
                paths = _make_set(folder, side, fmt)
                row = []
                for use in (None, embedder):
                    times = []
                    for _ in range(args.repeats):
                        start = time.perf_counter()
                        check_images(paths, resolution=512, embedder=use)
                        times.append((time.perf_counter() - start) / SET_SIZE * 1000)
                    row.append(statistics.median(times))
                print(f"{side:>6}² {fmt:>6}  {row[0]:>18.1f}  {row[1]:>16.1f}")


if __name__ == "__main__":
    main()
