"""A tiny Z-Image pipeline with random weights, built offline from config under a fixed seed.

The shapes follow Z-Image Turbo where its pipelines depend on them: a single-stream transformer over 2×2 patches of
16 latent channels, a FLUX.1-style VAE (scale factor 8, shift and scale; sides in multiples of 16), a Qwen3 causal
language model whose second-to-last hidden states are the prompt's tokens, and a tokenizer with a chat template (the
pipeline wraps each prompt as a user message). Everything else is as small as it goes; the images are noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.tiny.flux import _flux_vae
from engine.tiny.models import write_byte_tokenizer

ZIMAGE_SEED = 4567
_TEXT_WIDTH = 32  # Qwen3's hidden size here; the transformer's cap_feat_dim reads it
_MAX_LENGTH = 512  # the pipeline pads every prompt to max_sequence_length (512 by default)
# The real template wraps the prompt in Qwen's chat markers; the tiny one keeps the text and the generation cue.
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def qwen_tokenizer(folder: Path) -> Any:
    """A byte-level BPE tokenizer (Qwen2's kind, no merges: one token per byte) with a chat template."""
    from transformers import Qwen2Tokenizer

    write_byte_tokenizer(folder)
    return Qwen2Tokenizer.from_pretrained(str(folder), model_max_length=_MAX_LENGTH, chat_template=_CHAT_TEMPLATE)


def _qwen3(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=_TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,  # the pipeline reads hidden_states[-2]: two layers keep one past the embeddings
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=_MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return Qwen3Model(config).eval()


def _transformer(seed: int) -> Any:
    import torch
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(seed)
    return ZImageTransformer2DModel(
        in_channels=16,
        dim=32,
        n_layers=1,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        cap_feat_dim=_TEXT_WIDTH,
        axes_dims=[4, 6, 6],  # must sum to the head width, dim / n_heads
        axes_lens=[1024, 64, 64],
    ).eval()


def zimage_scheduler() -> Any:
    """Z-Image Turbo's flow-matching schedule: a fixed shift of 3 (no resolution-dependent shift)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)


def build_tiny_zimage_pipeline(name: str, work_dir: Path) -> Any:
    """Build the tiny Z-Image pipeline in memory; `work_dir` receives the tokenizer files."""
    from diffusers import ZImagePipeline

    tokenizer = qwen_tokenizer(work_dir / "qwen-tokenizer")
    return ZImagePipeline(
        scheduler=zimage_scheduler(),
        vae=_flux_vae(ZIMAGE_SEED + 1),
        text_encoder=_qwen3(tokenizer, ZIMAGE_SEED + 2),
        tokenizer=tokenizer,
        transformer=_transformer(ZIMAGE_SEED + 3),
    )
