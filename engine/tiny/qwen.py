"""A tiny Qwen-Image pipeline with random weights, built offline from config under a fixed seed.

The shapes follow Qwen-Image where its pipelines depend on them: a double-stream transformer over 2×2 patches of the
latents, a causal-3D VAE with three downsamplings (scale factor 8, per-channel mean and std; sides in multiples of
16), a Qwen2.5-VL model whose last hidden states are the prompt's tokens (its vision tower is there, unused by
text-to-image), and a byte-level tokenizer with Qwen's chat markers (the pipeline wraps each prompt in them and drops
the first 34 tokens). Everything else is as small as it goes; the images are noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.tiny.models import write_byte_tokenizer

SEED = 7890
_TEXT_WIDTH = 16  # Qwen2.5-VL's hidden size here; the transformer's joint_attention_dim reads it
_LATENT_CHANNELS = 4
_MAX_LENGTH = 2048  # the pipeline truncates at 1024 + 34 tokens
_PAD = "<|endoftext|>"  # written by write_byte_tokenizer
_MARKERS = ("<|im_start|>", "<|im_end|>")


def qwen_vl_tokenizer(folder: Path) -> Any:
    """A Qwen2 byte-level BPE tokenizer (no merges: one token per byte) with Qwen's chat markers as single tokens."""
    from transformers import Qwen2Tokenizer

    write_byte_tokenizer(folder)
    tokenizer = Qwen2Tokenizer.from_pretrained(str(folder), model_max_length=_MAX_LENGTH, pad_token=_PAD)
    tokenizer.add_special_tokens({"additional_special_tokens": list(_MARKERS)})
    return tokenizer


def _text_encoder(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {"bos_token_id": None, "eos_token_id": tokenizer.convert_tokens_to_ids(_MARKERS[1])}
    ids |= {"pad_token_id": tokenizer.pad_token_id, "vocab_size": len(tokenizer)}
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": _TEXT_WIDTH,
            "intermediate_size": _TEXT_WIDTH,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": _MAX_LENGTH,
            # Multimodal rotary positions: the sections split half the head width (8) over time, rows and columns.
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            **ids,
        },
        vision_config={
            "depth": 1,
            "hidden_size": _TEXT_WIDTH,
            "intermediate_size": _TEXT_WIDTH,
            "num_heads": 2,
            "out_hidden_size": _TEXT_WIDTH,
            "fullatt_block_indexes": [0],
        },
        **ids,
    )
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKLQwenImage

    torch.manual_seed(seed)
    return AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=_LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1],  # three downsamplings: the pipeline's scale factor is 2 ** len(temperal_downsample)
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * _LATENT_CHANNELS,
        latents_std=[1.0] * _LATENT_CHANNELS,
    ).eval()


def _transformer(seed: int) -> Any:
    import torch
    from diffusers import QwenImageTransformer2DModel

    torch.manual_seed(seed)
    return QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=4 * _LATENT_CHANNELS,  # 2×2 latent patches, packed by the pipeline
        out_channels=_LATENT_CHANNELS,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_TEXT_WIDTH,
        axes_dims_rope=(4, 6, 6),  # frame, row, column: must sum to attention_head_dim
    ).eval()


def qwen_scheduler() -> Any:
    """Qwen-Image's flow-matching schedule: the shift grows with the image's tokens (exponential time shift)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )


def build_tiny_qwen_pipeline(work_dir: Path) -> Any:
    """Build `tiny-qwen` in memory (diffusers' own class, as a real folder names it); `work_dir` receives the
    tokenizer files."""
    from diffusers import QwenImagePipeline

    tokenizer = qwen_vl_tokenizer(work_dir / "qwen-tokenizer")
    return QwenImagePipeline(
        scheduler=qwen_scheduler(),
        vae=_vae(SEED + 1),
        text_encoder=_text_encoder(tokenizer, SEED + 2),
        tokenizer=tokenizer,
        transformer=_transformer(SEED + 3),
    )
