"""What the denoiser learns to predict, per family: the noised input, the timesteps, the target and the weights.

SD 1.5 and SDXL learn a DDPM objective (ε, or v for v-prediction models) with Min-SNR-γ weights (trainer notes
§1); FLUX learns the flow-matching objective (the velocity from data to noise), and the loop stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class Draw:
    """One batch's noised latents and what the denoiser should output for them."""

    noisy: torch.Tensor
    timesteps: torch.Tensor
    target: torch.Tensor
    weights: torch.Tensor  # per sample, multiplies its mean squared error


class Objective(Protocol):
    prediction_type: str  # as exports state it (modelspec.prediction_type)

    def draw(self, latents: torch.Tensor, noise: torch.Tensor, generator: torch.Generator) -> Draw:
        """Noise `latents` at timesteps drawn from `generator` (the run's own: a resumed run draws the same)."""
        ...


class DdpmObjective:
    """ε- or v-prediction on the model's own noise schedule, with Min-SNR-γ weights (None: plain MSE)."""

    def __init__(self, scheduler_config: Any, min_snr_gamma: float | None) -> None:
        from diffusers import DDPMScheduler

        # A scheduler of its own: the generations between two steps change the pipeline's scheduler's state.
        self.scheduler = DDPMScheduler.from_config(scheduler_config)
        self.gamma = min_snr_gamma
        self.prediction_type = str(self.scheduler.config.prediction_type)

    def draw(self, latents: torch.Tensor, noise: torch.Tensor, generator: torch.Generator) -> Draw:
        steps = self.scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        if self.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return Draw(noisy, timesteps, target, self._weights(timesteps))

    def _weights(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Min-SNR-γ (trainer notes §1): min(snr, γ)/snr for ε, /(snr + 1) for v; snr ≥ 1e-8 keeps t = 999 finite."""
        if self.gamma is None:
            return torch.ones(len(timesteps))
        from diffusers.training_utils import compute_snr

        snr = compute_snr(self.scheduler, timesteps).clamp(min=1e-8)
        clipped = snr.clamp(max=self.gamma)
        if self.prediction_type == "v_prediction":
            return clipped / (snr + 1)
        return clipped / snr


class FlowMatchObjective:
    """Rectified flow (FLUX.1): x_σ = (1 − σ)·x₀ + σ·ε, the model predicts ε − x₀ (flux notes §5).

    σ is drawn logit-normal (mean 0, std 1), which weights the middle of the path, as the reference FLUX LoRA
    scripts do; every sample weighs the same. The transformer takes σ itself as its timestep.
    """

    prediction_type = "flow"

    def __init__(self, logit_mean: float = 0.0, logit_std: float = 1.0) -> None:
        self.logit_mean = logit_mean
        self.logit_std = logit_std

    def draw(self, latents: torch.Tensor, noise: torch.Tensor, generator: torch.Generator) -> Draw:
        batch = latents.shape[0]
        u = torch.normal(self.logit_mean, self.logit_std, (batch,), generator=generator)
        sigmas = torch.sigmoid(u).clamp(1e-3, 1.0)
        shaped = sigmas.view(-1, *([1] * (latents.dim() - 1)))
        noisy = (1.0 - shaped) * latents + shaped * noise
        return Draw(noisy, sigmas, noise - latents, torch.ones(batch))
