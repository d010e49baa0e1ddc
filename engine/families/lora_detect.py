"""Which model family a LoRA file was made for, read from its tensor names and shapes (the header only).

Used to refuse an import onto the wrong base in one line, instead of a LoRA that loads nothing at generation time.
It answers only when the file says so plainly; a layout it does not know (or a LoRA of a tiny test model) is None.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.families.registry import FAMILIES

MAX_HEADER = 100 * 1024 * 1024
_DOWN_SUFFIXES = ("lora_down.weight", "lora_A.weight", "lora.down.weight")


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (tensor names, dtypes, shapes); nothing else is read."""
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        if not 0 < length <= MAX_HEADER:
            raise ValueError(f"{path.name}: bad safetensors header length")
        header: dict[str, Any] = json.loads(fh.read(length))
    return header


def _cross_attention_width(header: Mapping[str, Any]) -> int | None:
    for key, info in header.items():
        is_cross_k = "attn2.to_k" in key or "attn2_to_k" in key
        if is_cross_k and key.endswith(_DOWN_SUFFIXES) and isinstance(info, Mapping):
            shape = info.get("shape") or []
            if len(shape) == 2:
                return int(shape[1])
    return None


def guess_family(header: Mapping[str, Any]) -> str | None:
    """The family id when the tensor names or shapes say so plainly (`Family.lora_markers`, then the width its
    UNet's cross-attention reads); None when unsure.

    Should a file carry two families' markers, the family whose markers its tensor names carry most often wins: a
    name counts once per marker it holds, so a family that shares block names with another (FLUX.2 with FLUX.1) wins
    by its own layers' names, and loses the tie (the family registered first wins) where it has none.
    """
    keys = [k for k in header if k != "__metadata__"]
    hits = {family.id: sum(m in key for key in keys for m in family.lora_markers) for family in FAMILIES.values()}
    best = max(hits, key=hits.__getitem__)
    if hits[best]:
        return best
    width = _cross_attention_width(header)
    return next((family.id for family in FAMILIES.values() if width and family.cross_attention_width == width), None)


def lora_family_of(path: Path) -> str | None:
    """The family a LoRA file looks made for, or None (unknown layout, or an unreadable header)."""
    try:
        return guess_family(read_header(path))
    except (OSError, ValueError, struct.error):
        return None


def wrong_family_message(file_name: str, looks: str, base_name: str, base_family: str) -> str:
    """One line for a LoRA imported onto a base of another family."""
    return (
        f"{file_name} looks like a LoRA for {looks} models (its tensor names and sizes), but '{base_name}' is a "
        f"{base_family} model: give --base a {looks} model (`studio models list` shows them)."
    )
