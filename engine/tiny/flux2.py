"""A tiny FLUX.2 [klein] pipeline with random weights, built offline from config under a fixed seed.

The shapes follow the real model where the pipeline depends on them: a 4-level VAE (scale factor 8) whose latents
are patchified 2x2 and normalised by its batch norm, a transformer over those patches with 4-axis rotary positions,
and a Qwen3 text encoder whose hidden states 9, 18 and 27 are stacked as the prompt's embedding (so it keeps 27
layers, each 8 wide). The tokenizer is byte-level BPE with no merges over the same 256 byte characters as the tiny
CLIP tokenizer, with Qwen's chat markers. Step-distilled, as klein 4B and 9B: one transformer pass per step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.tiny.flux import flux_scheduler
from engine.tiny.models import write_byte_tokenizer

SEED = 4567
_TEXT_WIDTH = 8
_TEXT_LAYERS = 27  # the pipeline reads hidden states 9, 18 and 27
_LATENT_CHANNELS = 4
_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Qwen's chat layout, without a system turn; `enable_thinking` (which the pipeline passes) changes nothing here.
_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_tokenizer(folder: Path) -> Any:
    """A Qwen2 byte-level BPE tokenizer, one token per byte character, written to and read from `folder`."""
    from transformers import Qwen2TokenizerFast

    write_byte_tokenizer(folder)
    vocab = {ch: i for i, ch in enumerate(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))}
    vocab = {ch: i for i, ch in enumerate(ch for ch in vocab if not ch.endswith("</w>") and not ch.startswith("<|"))}
    for token in _SPECIALS:
        vocab[token] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Qwen2TokenizerFast(
        vocab_file=str(folder / "vocab.json"),
        merges_file=str(folder / "merges.txt"),
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",  # noqa: S106 (a token, not a password)
        pad_token="<|endoftext|>",  # noqa: S106
        model_max_length=512,
    )
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer


def _text_encoder(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=_TEXT_WIDTH,
        intermediate_size=16,
        num_hidden_layers=_TEXT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(config).eval()


def _vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKLFlux2

    torch.manual_seed(seed)
    return AutoencoderKLFlux2(
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=_LATENT_CHANNELS,
        norm_num_groups=4,
        sample_size=64,
    ).eval()


def _transformer(seed: int) -> Any:
    import torch
    from diffusers import Flux2Transformer2DModel

    torch.manual_seed(seed)
    return Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4 * _LATENT_CHANNELS,  # 2x2 latent patches, one token each
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * _TEXT_WIDTH,  # three of Qwen3's hidden states side by side
        timestep_guidance_channels=16,
        axes_dims_rope=(4, 4, 4, 4),  # time, row, column, layer: must sum to attention_head_dim
        guidance_embeds=False,  # step-distilled klein takes no guidance
    ).eval()


def build_tiny_flux2_pipeline(work_dir: Path) -> Any:
    """Build `tiny-flux2` in memory; `work_dir` receives the tokenizer files."""
    from diffusers import Flux2KleinPipeline

    tokenizer = qwen_tokenizer(work_dir / "qwen-tokenizer")
    return Flux2KleinPipeline(
        scheduler=flux_scheduler(),
        vae=_vae(SEED + 1),
        text_encoder=_text_encoder(tokenizer, SEED + 2),
        tokenizer=tokenizer,
        transformer=_transformer(SEED + 3),
        is_distilled=True,
    )
