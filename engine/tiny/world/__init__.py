"""Tiny World: a procedural world of coloured shapes and the small SD 1.5-family model trained on it.

`world` draws scenes and writes their captions; `reading` tells which colours an image shows. The model's
weights live in `weights/` beside this file; scripts/build_tiny_world.py is the recipe that made them.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
