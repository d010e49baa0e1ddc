"""Which family a LoRA file was made for, from its header: plain answers only, None when unsure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from engine.families.lora_detect import guess_family, lora_family_of


def _shape(*dims: int) -> dict[str, object]:
    return {"dtype": "F32", "shape": list(dims), "data_offsets": [0, 0]}


def test_kohya_and_diffusers_layouts_name_their_family() -> None:
    sd15_kohya = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": _shape(4, 768)
    }
    sdxl_diffusers = {"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": _shape(8, 2048)}
    assert guess_family(sd15_kohya) == "sd15"
    assert guess_family(sdxl_diffusers) == "sdxl"
    assert guess_family({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": _shape(4, 1280)}) == "sdxl"
    assert guess_family({"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": _shape(4, 3072)}) == "flux"
    assert guess_family({"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": _shape(4, 3072)}) == "flux"


def test_a_klein_file_is_told_from_flux_by_its_own_layers() -> None:
    klein = {
        "transformer.single_transformer_blocks.0.attn.to_qkv_mlp_proj.lora_A.weight": _shape(4, 3072),
        "transformer.transformer_blocks.0.ff.linear_in.lora_A.weight": _shape(4, 3072),
        "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": _shape(4, 3072),
    }
    assert guess_family(klein) == "flux2"
    # Attention alone is named alike in both: FLUX.1, registered first, keeps the tie.
    assert guess_family({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": _shape(4, 3072)}) == "flux"


def test_a_file_with_two_families_markers_goes_to_the_one_most_tensors_name() -> None:
    flux = {f"lora_unet_double_blocks_{i}_img_attn_qkv.lora_down.weight": _shape(4, 3072) for i in range(3)}
    stray = {"text_encoder_2.encoder.layers.0.mlp.fc1.lora_A.weight": _shape(4, 1280)}
    assert guess_family(flux | stray) == "flux"
    assert guess_family(stray) == "sdxl"


def test_unknown_layouts_and_test_model_sizes_are_not_guessed(tmp_path: Path) -> None:
    # A tiny test model's cross-attention is narrower than any real model's: no claim either way.
    assert (
        guess_family({"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": _shape(4, 32)})
        is None
    )
    # type: ignore[dict-item]
    assert guess_family({"unet.x.lora.down.weight": _shape(2, 2), "__metadata__": {}}) is None
    path = tmp_path / "cat.safetensors"
    save_file({"unet.mid.attn2.to_k.lora_A.weight": np.zeros((4, 768), dtype=np.float32)}, str(path))
    assert lora_family_of(path) == "sd15"
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert lora_family_of(tmp_path / "bad.safetensors") is None
    assert lora_family_of(tmp_path / "missing.safetensors") is None
