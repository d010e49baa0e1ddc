"""How an SDXL LoRA trains: both text encoders' hidden states and the pooled projection, cached per caption, and the
size micro-conditioning per sample; the rest is the UNet recipe (engine.training.recipes)."""

from __future__ import annotations

from typing import Any

import torch

from engine.training.recipes import Cached, Conditioning, UnetRecipe, hidden_and_pooled


class SdxlRecipe(UnetRecipe):
    family = "sdxl"
    base_model_version = "sdxl_base_v1-0"
    architecture = "stable-diffusion-xl-v1-base/lora"

    def encode(self, pipe: Any, captions: list[str], device: torch.device) -> list[Cached]:
        hidden, _, pooled, _ = pipe.encode_prompt(
            captions, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
        return hidden_and_pooled(hidden, pooled)

    def batch(
        self, cached: list[dict[str, torch.Tensor]], sizes: list[tuple[int, ...]], device: torch.device
    ) -> Conditioning:
        # time_ids per sample: original size (before resizing), crop offset (after), target size (the bucket).
        time_ids = torch.tensor([list(s) for s in sizes], dtype=torch.float32, device=device)
        return Conditioning(
            torch.stack([c["hidden"] for c in cached]).to(device),
            {"text_embeds": torch.stack([c["pooled"] for c in cached]).to(device), "time_ids": time_ids},
        )

    def forward(self, unet: Any, noisy: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return unet(noisy, timesteps, encoder_hidden_states=cond.hidden, added_cond_kwargs=cond.extra).sample
