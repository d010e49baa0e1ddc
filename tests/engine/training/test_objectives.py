"""The DDPM objective the SD families train on: targets for ε and v prediction, and Min-SNR-γ weights."""

from __future__ import annotations

import torch

from engine.training.objectives import DdpmObjective

CONFIG = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}


def _draw(prediction_type: str, gamma: float | None, seed: int = 0):
    objective = DdpmObjective(CONFIG | {"prediction_type": prediction_type}, gamma)
    latents, noise = torch.randn(64, 4, 2, 2), torch.randn(64, 4, 2, 2)
    return objective, latents, noise, objective.draw(latents, noise, torch.Generator().manual_seed(seed))


def test_epsilon_learns_the_noise_and_min_snr_caps_the_easy_timesteps() -> None:
    objective, latents, noise, drawn = _draw("epsilon", 5.0)
    assert objective.prediction_type == "epsilon"
    assert torch.equal(drawn.target, noise)
    assert torch.equal(drawn.noisy, objective.scheduler.add_noise(latents, noise, drawn.timesteps))
    # Low timesteps have a high SNR: their weight γ/snr is below 1; noisy ones (snr < γ) keep weight 1.
    early, late = drawn.timesteps < 50, drawn.timesteps > 600
    assert early.any() and late.any()
    assert (drawn.weights[early] < 1).all() and torch.allclose(drawn.weights[late], torch.ones(int(late.sum())))


def test_v_prediction_learns_the_velocity_and_plain_mse_weighs_all_alike() -> None:
    objective, latents, noise, drawn = _draw("v_prediction", None)
    assert objective.prediction_type == "v_prediction"
    assert torch.allclose(drawn.target, objective.scheduler.get_velocity(latents, noise, drawn.timesteps))
    assert torch.equal(drawn.weights, torch.ones(64))


def test_the_same_generator_draws_the_same_timesteps() -> None:
    assert torch.equal(_draw("epsilon", 5.0, seed=3)[3].timesteps, _draw("epsilon", 5.0, seed=3)[3].timesteps)
