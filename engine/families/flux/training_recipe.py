"""How a FLUX.1 LoRA trains: the transformer over packed 2×2 latent patches, T5 and CLIP conditioning, flow matching.

The facts it rests on were checked on tiny models (flux notes §5): latents are shifted then scaled, the transformer
takes σ as its timestep and position ids of the packed grid (2-D), and a guidance-distilled model (dev, Kontext)
needs its guidance value, which a schnell model does not take.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.catalog import FLUX_MODULES
from engine.training.objectives import FlowMatchObjective, Objective
from engine.training.recipes import Cached, Conditioning, hidden_and_pooled

TRAIN_GUIDANCE = 1.0  # the guidance the distilled model is conditioned on while it learns (reference scripts: 1)


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, H/2 · W/2, 4C): each 2×2 patch of the latent grid becomes one token."""
    b, c, h, w = latents.shape
    return latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of `pack` for a (height, width) latent grid."""
    b, _, d = tokens.shape
    c = d // 4
    grid = tokens.view(b, height // 2, width // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return grid.reshape(b, c, height, width)


def grid_ids(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The position ids of a packed grid: (tokens, 3), the first coordinate 0, then row and column."""
    ids = torch.zeros(height // 2, width // 2, 3)
    ids[..., 1] = torch.arange(height // 2)[:, None]
    ids[..., 2] = torch.arange(width // 2)[None, :]
    return ids.reshape(-1, 3).to(device, dtype)


class FluxRecipe:
    family = "flux"
    base_model_version = "flux1"
    architecture = "flux-1-dev/lora"
    targets = FLUX_MODULES

    def __init__(self, text_length: int = 512) -> None:
        self.text_length = text_length  # T5's prompt length: as the model generates with it

    def denoiser(self, pipe: Any) -> Any:
        return pipe.transformer

    def latents(self, pipe: Any, sample: torch.Tensor) -> torch.Tensor:
        config = pipe.vae.config
        return (sample - config.shift_factor) * config.scaling_factor

    def objective(self, pipe: Any, min_snr_gamma: float | None) -> Objective:
        return FlowMatchObjective()  # Min-SNR-γ belongs to the DDPM objective: not used here

    def text_encoder(self, pipe: Any) -> Any | None:
        return None  # as the reference FLUX LoRA scripts advise: the transformer only

    def live(self, pipe: Any, captions: list[str], sizes: list[tuple[int, ...]], device: torch.device) -> Conditioning:
        raise NotImplementedError("FLUX LoRAs train the transformer only")

    def encode(self, pipe: Any, captions: list[str], device: torch.device) -> list[Cached]:
        hidden, pooled, _ids = pipe.encode_prompt(
            captions, prompt_2=None, device=device, num_images_per_prompt=1, max_sequence_length=self.text_length
        )
        return hidden_and_pooled(hidden, pooled)

    def batch(
        self, cached: list[dict[str, torch.Tensor]], sizes: list[tuple[int, ...]], device: torch.device
    ) -> Conditioning:
        return Conditioning(
            torch.stack([c["hidden"] for c in cached]).to(device),
            {"pooled_projections": torch.stack([c["pooled"] for c in cached]).to(device)},
        )

    def forward(self, unet: Any, noisy: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        batch, _, height, width = noisy.shape
        guidance = None
        if unet.config.guidance_embeds:  # mandatory for a guidance-distilled model, refused by one without
            guidance = torch.full((batch,), TRAIN_GUIDANCE, device=noisy.device, dtype=noisy.dtype)
        tokens = unet(
            hidden_states=pack(noisy),
            encoder_hidden_states=cond.hidden,
            pooled_projections=cond.extra["pooled_projections"],
            timestep=timesteps.to(noisy.dtype),
            img_ids=grid_ids(height, width, noisy.device, noisy.dtype),
            txt_ids=torch.zeros(cond.hidden.shape[1], 3, device=noisy.device, dtype=noisy.dtype),
            guidance=guidance,
            return_dict=False,
        )[0]
        return unpack(tokens, height, width)
