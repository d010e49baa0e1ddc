"""How an SD 1.5 LoRA trains: one CLIP encoder's hidden states, cached per caption or encoded live when the text
encoder trains too; the rest is the UNet recipe (engine.training.recipes)."""

from __future__ import annotations

from typing import Any

import torch

from engine.training.recipes import Cached, Conditioning, UnetRecipe


class Sd15Recipe(UnetRecipe):
    family = "sd15"
    base_model_version = "sd_v1"
    architecture = "stable-diffusion-v1/lora"

    def encode(self, pipe: Any, captions: list[str], device: torch.device) -> list[Cached]:
        embeds, _ = pipe.encode_prompt(captions, device, 1, False)
        return [{"hidden": e.detach().float().cpu()} for e in embeds]

    def text_encoder(self, pipe: Any) -> Any | None:
        return pipe.text_encoder

    def live(self, pipe: Any, captions: list[str], sizes: list[tuple[int, ...]], device: torch.device) -> Conditioning:
        embeds, _ = pipe.encode_prompt(captions, device, 1, False)
        return Conditioning(embeds, {})

    def batch(
        self, cached: list[dict[str, torch.Tensor]], sizes: list[tuple[int, ...]], device: torch.device
    ) -> Conditioning:
        return Conditioning(torch.stack([c["hidden"] for c in cached]).to(device), {})

    def forward(self, unet: Any, noisy: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return unet(noisy, timesteps, encoder_hidden_states=cond.hidden).sample
