"""Write a tiny SD 1.5 pipeline as an original-layout (LDM) single-file checkpoint, to test `from_single_file`.

Only what the tiny test model uses is covered: a UNet with one resnet per block, conv projections, and a
two-level VAE.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1"}
_RESNET |= {"norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _sub(rest: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def _unet_key(key: str, layers: int) -> str:
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    for old, new in fixed.items():
        if key.startswith(old + "."):
            return new + key[len(old) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        slot = 1 + i * (layers + 1) + j
        if kind == "resnets":
            return f"input_blocks.{slot}.0.{_sub(rest, _RESNET)}"
        return f"input_blocks.{slot}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_sub(m[2], _RESNET)}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        slot = i * (layers + 1) + j
        if kind == "resnets":
            return f"output_blocks.{slot}.0.{_sub(rest, _RESNET)}"
        return f"output_blocks.{slot}.1.{rest}"
    raise KeyError(key)


def _unet(unet: Any) -> dict[str, torch.Tensor]:
    layers = unet.config.layers_per_block
    has_attn = {i: any(k.startswith(f"up_blocks.{i}.attentions") for k in unet.state_dict()) for i in range(9)}
    out = {}
    for key, value in unet.state_dict().items():
        if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            i = int(m[1])
            new = f"output_blocks.{i * (layers + 1) + layers}.{2 if has_attn[i] else 1}.conv.{m[2]}"
        else:
            new = _unet_key(key, layers)
        out["model.diffusion_model." + new] = value
    return out


def _vae(vae: Any) -> dict[str, torch.Tensor]:
    n = len(vae.config.block_out_channels)
    out = {}
    for key, value in vae.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out")
        if m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", new):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{_sub(m[3], {'conv_shortcut': 'nin_shortcut'})}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", new):
            new = f"{m[1]}.mid.attn_1.{_sub(m[2], _VAE_ATTN)}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", new):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{_sub(m[3], {'conv_shortcut': 'nin_shortcut'})}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", new):
            new = f"encoder.down.{m[1]}.downsample.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", new):
            new = f"decoder.up.{n - 1 - int(m[1])}.block.{m[2]}.{_sub(m[3], {'conv_shortcut': 'nin_shortcut'})}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", new):
            new = f"decoder.up.{n - 1 - int(m[1])}.upsample.{m[2]}"
        out["first_stage_model." + new] = value
    return out


def save_ldm_checkpoint(pipe: Any, path: Path) -> Path:
    """Save an SD 1.5 pipeline's UNet, VAE and text encoder in the original single-file layout."""
    state = _unet(pipe.unet) | _vae(pipe.vae)
    # Original checkpoints nest CLIP under text_model.; transformers 5.x flattened CLIPTextModel's own keys.
    for key, value in pipe.text_encoder.state_dict().items():
        nested = key if key.startswith("text_model.") else "text_model." + key
        state["cond_stage_model.transformer." + nested] = value
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
