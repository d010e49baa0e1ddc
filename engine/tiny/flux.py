"""Tiny FLUX.1 pipelines (text-to-image and Kontext) with random weights, built offline from config under fixed seeds.

The shapes follow the real models where the pipelines depend on them: 16 latent channels packed 2x2 into the
transformer's 64 input channels, a 4-level VAE (scale factor 8, so sides are multiples of 16), CLIP's pooled
output plus T5's token sequence as text conditioning, and a guidance embedding as in FLUX.1-dev. Everything
else is as small as it goes, so a 64x64 image takes milliseconds on a CPU. The images are noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ModelUnavailable
from engine.tiny.models import clip_text_encoder, clip_tokenizer

# Both models share one recipe; distinct seeds keep them distinct models (and each build deterministic).
FLUX_SEEDS: dict[str, int] = {"tiny-flux": 2345, "tiny-flux-kontext": 3456}
# The shared CLIP encoder's width (engine.tiny.models), which is also its projection width: the pipeline feeds CLIP's
# pooler_output (hidden width) where the transformer expects the projection width. T5 and the joint width match it.
_HIDDEN = 32
_LATENT_CHANNELS = 16
# T5 pads every prompt to max_sequence_length; 512 is FLUX.1-dev's limit too.
_T5_MAX_LENGTH = 512


def t5_tokenizer() -> Any:
    """A T5 (Unigram) tokenizer over printable ASCII: one piece per character, a word start marked by '▁'.

    The scores make '▁' plus the first letter cheaper than the two apart, so "cat" becomes '▁c', 'a', 't'.
    """
    from transformers import T5Tokenizer

    chars = [chr(code) for code in range(ord("!"), ord("~") + 1)]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(ch, -3.0) for ch in chars] + [("▁" + ch, -3.5) for ch in chars]
    # extra_ids=0: T5's 100 sentinel tokens only matter for span-corruption pretraining.
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=_T5_MAX_LENGTH)


def _t5_encoder(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=_HIDDEN,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    # eval(): a config-built model is in train mode, and T5's dropout would make every call differ.
    return T5EncoderModel(config).eval()


def _flux_vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=_LATENT_CHANNELS,
        norm_num_groups=4,
        sample_size=64,
        # The FLUX.1 VAE has no quant convs and normalises latents with both a scale and a shift.
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        force_upcast=False,
    ).eval()


def _flux_transformer(seed: int) -> Any:
    import torch
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * _LATENT_CHANNELS,  # the pipeline packs 2x2 latent patches into one token
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_HIDDEN,
        pooled_projection_dim=_HIDDEN,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),  # must sum to attention_head_dim
    ).eval()


def flux_scheduler() -> Any:
    """FLUX.1-dev's flow-matching scheduler settings (also the benchmark's)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    # FLUX.1-dev's values: the timestep shift grows with the image's token count.
    return FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def build_tiny_flux_pipeline(name: str, work_dir: Path) -> Any:
    """Build tiny FLUX.1 pipeline `name` ("tiny-flux" or "tiny-flux-kontext") in memory.

    `work_dir` receives the CLIP tokenizer files.
    """
    from diffusers import FluxKontextPipeline, FluxPipeline

    if name not in FLUX_SEEDS:
        raise ModelUnavailable(f"Unknown built-in FLUX.1 model '{name}'. Built-in ones: {', '.join(FLUX_SEEDS)}.")
    seed = FLUX_SEEDS[name]
    tokenizer = clip_tokenizer(work_dir / "byte-tokenizer")
    t5 = t5_tokenizer()
    cls = FluxKontextPipeline if name == "tiny-flux-kontext" else FluxPipeline
    return cls(
        scheduler=flux_scheduler(),
        vae=_flux_vae(seed + 1),
        text_encoder=clip_text_encoder(tokenizer, with_projection=False, seed=seed + 2),
        tokenizer=tokenizer,
        text_encoder_2=_t5_encoder(t5, seed + 3),
        tokenizer_2=t5,
        transformer=_flux_transformer(seed + 4),
    )
