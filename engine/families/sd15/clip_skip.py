"""Clip skip for SD 1.5: A1111's number, checked against the loaded text encoder and handed to diffusers.

A1111 counts from the last layer: 1 reads CLIP's last layer (no skip), 2 the one before it, the setting most
anime-style SD 1.5 checkpoints are trained and shared with. diffusers counts the layers skipped, so A1111's N is its
N - 1, and its None is A1111's 1. SDXL declares no clip skip: its pipelines read the layer before the last already,
which is what A1111 and the SDXL model cards call "clip skip 2", so the setting there would only mislead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from engine.errors import InvalidRequest
from engine.params import Extra, ExtraSetting

CLIP_SKIP = ExtraSetting(
    "clip_skip",
    int,
    "read the text encoder this many layers from its end (A1111's Clip skip: 1 = last layer, 2 = anime models)",
    low=1,
    high=4,
    a1111="Clip skip",
)


@contextmanager
def clip_skip_call(pipe: Any, extras: Mapping[str, Extra]) -> Iterator[dict[str, Any]]:
    """The pipeline's `clip_skip` for this run (none for 1), with the encoder level diffusers reads kept meanwhile.

    transformers 5 moved `final_layer_norm` from `CLIPTextModel.text_model` onto the model itself, and the SD 1.5
    pipelines' clip skip still reads `text_encoder.text_model.final_layer_norm` (huggingface/diffusers#14124). The
    alias lasts only for the call: diffusers' LoRA loader tests `hasattr(text_encoder, "text_model")` to name a
    LoRA's keys, so a lasting one would misload text-encoder LoRAs.
    """
    skip = int(extras.get(CLIP_SKIP.name, 1)) - 1
    if skip <= 0:
        yield {}
        return
    encoder = pipe.text_encoder
    layers = encoder.config.num_hidden_layers
    if skip >= layers:  # only the tiny test models are this shallow; diffusers would index past the first layer
        raise InvalidRequest(f"This model's text encoder has {layers} layers: use a clip skip of at most {layers}.")
    alias = not hasattr(encoder, "text_model")
    if alias:
        object.__setattr__(encoder, "text_model", encoder)  # a plain attribute: no submodule, not in state_dict
    try:
        yield {"clip_skip": skip}
    finally:
        if alias:
            object.__delattr__(encoder, "text_model")
