"""The training plan: preset values, sized to the GPU's memory, overridden by the user, each with its source."""

from __future__ import annotations

import pytest

from engine.catalog import get_preset
from engine.errors import InvalidRequest
from engine.training.autoconfig import COSTS, RESERVE_GB, fit_to_device, memory_need_gb, plan_training


def _plan(model: str = "sd15", gpu_gb: float | None = 24.0, **overrides):
    return plan_training(get_preset(model), images=25, overrides=overrides, gpu_gb=gpu_gb, precision="bf16")


def test_a_roomy_gpu_keeps_the_preset_and_steps_come_from_the_set_size() -> None:
    plan = _plan()
    preset = get_preset("sd15").training
    assert plan.config.batch_size == preset.batch_size and not plan.config.gradient_checkpointing
    assert plan.sources["batch_size"] == "preset" and plan.sources["steps"] == "set"
    # 25 images × 80 samples each, batch 2: 1000 steps, 2000 samples (the reference run).
    assert plan.config.steps == 1000 and plan.samples == 2000
    assert plan.memory_gb is not None and plan.memory_gb <= plan.budget_gb
    assert plan.estimate_s > 0 and plan.disk_bytes > 0


def test_prodigy_takes_its_own_learning_rate_unless_one_is_given() -> None:
    prodigy = _plan(optimizer="prodigy")
    assert (prodigy.config.learning_rate, prodigy.sources["learning_rate"]) == (1.0, "optimizer")
    assert _plan(optimizer="prodigy", learning_rate=0.5).config.learning_rate == 0.5


def test_what_the_user_gives_wins_and_says_so() -> None:
    plan = _plan(steps=300, rank=32, learning_rate=5e-5)
    assert (plan.config.steps, plan.config.rank, plan.config.learning_rate) == (300, 32, 5e-5)
    assert {plan.sources[k] for k in ("steps", "rank", "learning_rate")} == {"you"}
    assert plan.config.alpha == 32.0  # alpha follows the rank: the LoRA's strength does not change with it


def test_less_memory_turns_on_checkpointing_then_trades_batch_for_accumulation() -> None:
    checkpointed = _plan(gpu_gb=6.0)
    assert checkpointed.config.gradient_checkpointing and checkpointed.sources["gradient_checkpointing"] == "memory"
    assert checkpointed.config.batch_size == 2
    traded = _plan(gpu_gb=5.0)
    assert traded.config.gradient_checkpointing
    assert (traded.config.batch_size, traded.config.grad_accum) == (1, 2)  # the same 2 samples per step
    assert traded.sources["batch_size"] == "memory" and traded.memory_gb <= traded.budget_gb
    assert traded.config.steps == 1000


def test_a_run_that_cannot_fit_says_what_to_lower() -> None:
    with pytest.raises(InvalidRequest, match=r"needs about .* GB .*Lower the resolution \(now 1024\)"):
        _plan("sdxl", gpu_gb=8.0)


def test_sdxl_at_1024_fits_a_24_gb_card_and_needs_checkpointing_on_16() -> None:
    assert not _plan("sdxl", gpu_gb=24.0).config.gradient_checkpointing
    assert _plan("sdxl", gpu_gb=16.0).config.gradient_checkpointing
    # fp32 weights need more than 16-bit ones.
    config = _plan("sdxl").config
    assert memory_need_gb(COSTS["sdxl"], config, sixteen_bit=False) > memory_need_gb(
        COSTS["sdxl"], config, sixteen_bit=True
    )


def test_on_the_cpu_nothing_is_sized() -> None:
    plan = _plan("tiny-sd", gpu_gb=None)
    assert plan.memory_gb is None and plan.config.mixed_precision == "bf16"  # as the test passes it
    assert plan.config.resolution == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"steps": 0}, "steps must be between"),
        ({"rank": 1000}, "rank must be between"),
        ({"resolution": 500}, "resolution must be a multiple of 64"),
        ({"optimizer": "sgd"}, "optimizer must be"),
        ({"colour": 1}, "Unknown training setting"),
    ],
)
def test_bad_settings_are_refused_with_the_rule(override, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        _plan(**override)


def test_the_text_encoder_trains_on_sd15_only() -> None:
    plan = _plan(train_text_encoder=True)
    assert plan.config.train_text_encoder and plan.sources["train_text_encoder"] == "you"
    with pytest.raises(InvalidRequest, match=r"Text-encoder training is for SD 1\.5 models"):
        _plan("sdxl", train_text_encoder=True)


def test_flux_plans_flow_matching_and_needs_a_big_gpu() -> None:
    plan = _plan("flux-dev", gpu_gb=80.0)
    assert (plan.config.noise_offset, plan.config.min_snr_gamma) == (0.0, None)  # no noise schedule to act on
    assert plan.config.resolution == 1024 and plan.config.rank == 16
    assert not plan.config.text_encoder_offload and not plan.config.gradient_checkpointing  # 80 GB hold it all
    # Short of memory, T5 goes to host memory first (free: the captions are encoded once), then checkpointing.
    roomy = _plan("flux-dev", gpu_gb=56.0)
    assert roomy.config.text_encoder_offload and not roomy.config.gradient_checkpointing
    assert roomy.sources["text_encoder_offload"] == "memory" and roomy.memory_gb is not None
    assert roomy.memory_gb < 55.0 < roomy.memory_gb + 8.9  # T5's 8.9 GB are what made it fit
    tight = _plan("flux-dev", gpu_gb=48.0).config
    assert tight.text_encoder_offload and tight.gradient_checkpointing
    assert not _plan("sdxl", gpu_gb=16.0).config.text_encoder_offload  # SD keeps its text encoders
    with pytest.raises(InvalidRequest, match="needs about"):
        _plan("flux-dev", gpu_gb=24.0)
    with pytest.raises(InvalidRequest, match="multiple of 16"):
        _plan("tiny-flux", gpu_gb=None, resolution=72)
    assert _plan("tiny-flux", gpu_gb=None).config.resolution == 64


def test_a_plan_for_a_large_gpu_is_adapted_where_it_runs_on_a_smaller_one() -> None:
    preset = get_preset("sd15")
    planned = plan_training(preset, images=25, overrides={"resolution": 1024}, gpu_gb=80.0, precision="bf16").config
    assert not planned.gradient_checkpointing  # 80 GB: the preset as it is
    fitted, changed = fit_to_device(preset, planned, gpu_gb=12.0, precision="bf16")
    assert fitted.gradient_checkpointing and "gradient checkpointing False → True" in changed
    # What the run learns from stays: images seen per step, resolution, rank.
    assert fitted.batch_size * fitted.grad_accum == planned.batch_size * planned.grad_accum
    assert (fitted.resolution, fitted.rank, fitted.steps) == (planned.resolution, planned.rank, planned.steps)
    assert memory_need_gb(COSTS["sd15"], fitted, sixteen_bit=True) <= 12.0 - RESERVE_GB
    assert fit_to_device(preset, planned, gpu_gb=80.0, precision="bf16") == (planned, ())  # where it was sized


def test_a_plan_that_cannot_fit_where_it_runs_is_refused_with_what_to_do() -> None:
    preset = get_preset("flux-dev")
    planned = plan_training(preset, images=25, overrides={}, gpu_gb=80.0, precision="bf16").config
    with pytest.raises(InvalidRequest, match=r"has 11\.0 GB for it.*plan it again so that it is sized for this worker"):
        fit_to_device(preset, planned, gpu_gb=12.0, precision="bf16", where="worker 'small'")


def test_a_plan_run_on_the_cpu_takes_the_cpus_precision() -> None:
    preset = get_preset("sd15")
    planned = plan_training(preset, images=25, overrides={}, gpu_gb=24.0, precision="bf16").config
    fitted, changed = fit_to_device(preset, planned, gpu_gb=None, precision="no")
    assert fitted.mixed_precision == "no" and changed == ("precision bf16 → no",)
