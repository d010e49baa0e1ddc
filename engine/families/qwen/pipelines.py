"""Qwen-Image's diffusers pipelines, called the engine's way.

The engine calls every pipeline with `guidance_scale` and, for a family that takes one, `negative_prompt`. Qwen-Image
guides by true classifier-free guidance instead: a second pass on the negative prompt, weighted by `true_cfg_scale`,
and it ignores `guidance_scale` (that is for guidance-distilled models). These subclasses map one onto the other, so
that the engine's call stays the same for every family.
"""

from __future__ import annotations

from typing import Any

from diffusers import QwenImageImg2ImgPipeline, QwenImageInpaintPipeline, QwenImagePipeline

# What the model card passes when there is nothing to steer away from: true CFG still needs a second prompt.
EMPTY_NEGATIVE = " "


def true_cfg_inputs(guidance: float | None, negative: str | None) -> dict[str, Any]:
    """The keyword arguments for a guidance and a negative prompt: above 1, true CFG against the negative prompt
    (a blank one when none is given); otherwise one pass per step, and the negative prompt has no effect."""
    scale = 1.0 if guidance is None else float(guidance)
    if scale <= 1:
        return {"true_cfg_scale": 1.0}
    return {"true_cfg_scale": scale, "negative_prompt": negative or EMPTY_NEGATIVE}


class _TrueCfgCall:
    """Takes the engine's guidance and negative prompt; passes diffusers' pipeline its true CFG instead."""

    def __call__(
        self, *args: Any, guidance_scale: float | None = None, negative_prompt: str | None = None, **kw: Any
    ) -> Any:
        return super().__call__(*args, **kw, **true_cfg_inputs(guidance_scale, negative_prompt))  # type: ignore[misc]


class QwenImageTrueCfgPipeline(_TrueCfgCall, QwenImagePipeline):
    """Text to image."""


class QwenImageTrueCfgImg2ImgPipeline(_TrueCfgCall, QwenImageImg2ImgPipeline):
    """Image to image by strength."""


class QwenImageTrueCfgInpaintPipeline(_TrueCfgCall, QwenImageInpaintPipeline):
    """Inpainting under a mask."""
