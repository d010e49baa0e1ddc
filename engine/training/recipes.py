"""What differs between model families when training a LoRA: the denoiser and the layers the LoRA covers, the
latent scaling, the text conditioning, the denoiser's call and what it learns to predict (`objectives`).

Each family names its recipe (`Family.recipe`, in its folder under engine/families/); the loop does not know which
one it runs. The UNet families share `UnetRecipe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from engine.catalog import ATTENTION_MODULES
from engine.training.objectives import DdpmObjective, Objective

# The attention and feed-forward linear layers of the UNet's transformer blocks, as kohya's LoRA covers them.
UNET_TARGETS: tuple[str, ...] = (*ATTENTION_MODULES, "ff.net.0.proj", "ff.net.2")


Cached = dict[str, torch.Tensor]  # a caption's conditioning tensors, kept on the CPU


def hidden_and_pooled(hidden: torch.Tensor, pooled: torch.Tensor) -> list[Cached]:
    """Per caption, its token states and its pooled embedding, kept on the CPU in fp32."""
    return [
        {"hidden": h.detach().float().cpu(), "pooled": p.detach().float().cpu()}
        for h, p in zip(hidden, pooled, strict=True)
    ]


@dataclass
class Conditioning:
    """A batch's text conditioning, on the training device; `extra` goes to the UNet as keyword arguments."""

    hidden: torch.Tensor
    extra: dict[str, torch.Tensor]


class Recipe(Protocol):
    family: str
    base_model_version: str  # ss_base_model_version
    architecture: str  # modelspec.architecture
    targets: tuple[str, ...]  # the denoiser's layers the LoRA covers

    def denoiser(self, pipe: Any) -> Any:
        """The module the LoRA trains (a UNet here, a transformer for FLUX)."""

    def latents(self, pipe: Any, sample: torch.Tensor) -> torch.Tensor:
        """A VAE sample as the denoiser sees latents (scaled, and shifted where the family does)."""

    def objective(self, pipe: Any, min_snr_gamma: float | None) -> Objective:
        """What the denoiser learns to predict, and each sample's weight."""

    def text_encoder(self, pipe: Any) -> Any | None:
        """The text encoder a LoRA may train too; None: the family trains its denoiser only."""

    def live(self, pipe: Any, captions: list[str], sizes: list[tuple[int, ...]], device: torch.device) -> Conditioning:
        """A batch's conditioning encoded now, gradients flowing into the text encoder's LoRA."""

    def encode(self, pipe: Any, captions: list[str], device: torch.device) -> list[Cached]:
        """Per caption, its cached conditioning tensors (on the CPU)."""

    def batch(
        self, cached: list[dict[str, torch.Tensor]], sizes: list[tuple[int, ...]], device: torch.device
    ) -> Conditioning:
        """The conditioning of a batch from its samples' cached tensors (and, for SDXL, their size info)."""

    def forward(self, unet: Any, noisy: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor: ...


class UnetRecipe:
    """What SD 1.5 and SDXL share: a UNet, the VAE's scaling factor, the DDPM objective."""

    targets = UNET_TARGETS

    def denoiser(self, pipe: Any) -> Any:
        return pipe.unet

    def latents(self, pipe: Any, sample: torch.Tensor) -> torch.Tensor:
        return sample * pipe.vae.config.scaling_factor

    def objective(self, pipe: Any, min_snr_gamma: float | None) -> Objective:
        return DdpmObjective(pipe.scheduler.config, min_snr_gamma)

    def text_encoder(self, pipe: Any) -> Any | None:
        return None

    def live(self, pipe: Any, captions: list[str], sizes: list[tuple[int, ...]], device: torch.device) -> Conditioning:
        raise NotImplementedError(f"{type(self).__name__} trains its denoiser only")


def recipe_for(family: str, text_length: int | None = None) -> Recipe:
    """The recipe of `family`; `text_length` is the model's T5 prompt length (FLUX)."""
    from engine.errors import InvalidRequest
    from engine.families.registry import FAMILIES

    known = FAMILIES.get(family)
    if known is None:
        raise InvalidRequest(f"LoRA training for the {family} family is not supported yet ({', '.join(FAMILIES)} are).")
    return known.recipe(text_length)
