"""A FLUX.1 LoRA in kohya's layout (sd-scripts, ComfyUI, Forge): Black Forest Labs' module names, fused layers.

The studio trains diffusers' separate projections (to_q, to_k, to_v, …); BFL's model fuses some of them into one
linear layer (`img_attn.qkv`, and in single blocks `linear1` = q, k, v and the MLP's input). A LoRA on each part
becomes one LoRA on the fused layer: the down matrices stacked, the up matrices block-diagonal, so each part's
rows see only its own LoRA; the rank is the parts' ranks summed and alpha grows with it, which keeps every part's
scale alpha/rank as trained. Loaders split it back (diffusers does: `_convert_kohya_flux_lora_to_diffusers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

# diffusers' module (under a double block) → BFL's module, with the parts of a fused one in their row order.
DOUBLE: dict[str, tuple[str, ...]] = {
    "img_attn_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "txt_attn_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "img_attn_proj": ("attn.to_out.0",),
    "txt_attn_proj": ("attn.to_add_out",),
    "img_mlp_0": ("ff.net.0.proj",),
    "img_mlp_2": ("ff.net.2",),
    "txt_mlp_0": ("ff_context.net.0.proj",),
    "txt_mlp_2": ("ff_context.net.2",),
    "img_mod_lin": ("norm1.linear",),
    "txt_mod_lin": ("norm1_context.linear",),
}
SINGLE: dict[str, tuple[str, ...]] = {
    "linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"),
    "linear2": ("proj_out",),
    "modulation_lin": ("norm.linear",),
}
MLP_RATIO = 4  # a single block's MLP is four times its width: linear1's last part when proj_mlp is not trained
_KEY = re.compile(r"^(transformer_blocks|single_transformer_blocks)\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def _parts(state: Mapping[str, torch.Tensor]) -> dict[tuple[str, int, str], dict[str, torch.Tensor]]:
    found: dict[tuple[str, int, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"{key!r} is not a FLUX transformer block's LoRA weight")
        kind, block, module, ab = match.groups()
        found.setdefault((kind, int(block), module), {})[ab] = value
    return found


def to_kohya(state: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """peft tensors of the transformer (`transformer_blocks.0.attn.to_q.lora_A.weight`, …) → kohya FLUX tensors."""
    parts = _parts(state)
    out: dict[str, torch.Tensor] = {}
    blocks = {(kind, block) for kind, block, _ in parts}
    for kind, block in sorted(blocks):
        table, prefix = (DOUBLE, "double_blocks") if kind == "transformer_blocks" else (SINGLE, "single_blocks")
        for bfl, modules in table.items():
            present = [m for m in modules if (kind, block, m) in parts]
            if not present:
                continue
            downs, ups = [], []
            # A part that was not trained gets zero rows: as wide as the attention's (the MLP's four times that).
            width = parts[(kind, block, present[0])]["B"].shape[0]
            for module in modules:
                lora = parts.get((kind, block, module))
                if lora is None:
                    ups.append(torch.zeros(width * (MLP_RATIO if module == "proj_mlp" else 1), 0))
                    continue
                down, up = lora["A"].float(), lora["B"].float()
                downs.append(down)
                ups.append(up)
            rank = sum(d.shape[0] for d in downs)
            name = f"lora_unet_{prefix}_{block}_{bfl}"
            out[f"{name}.lora_down.weight"] = torch.cat(downs)
            out[f"{name}.lora_up.weight"] = torch.block_diag(*ups) if len(ups) > 1 else ups[0]
            # Each part was trained at alpha/r; the fused LoRA has rank Σr, so alpha scales by the parts' count.
            out[f"{name}.alpha"] = torch.tensor(alpha * rank / downs[0].shape[0])
    return out
