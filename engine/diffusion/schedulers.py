"""Samplers by name: a fresh scheduler per request, keeping the model's own schedule settings."""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidRequest

# Each sampler id as AUTOMATIC1111 names it in its `parameters` text: (`Sampler`, `Schedule type`), the labels of
# A1111's `sd_samplers_kdiffusion.samplers_k_diffusion`, `sd_samplers_timesteps.samplers_timesteps` and
# `sd_schedulers.schedulers`. The schedule type is always explicit: A1111's "Automatic" means Karras for DPM++ 2M
# and Exponential for DPM++ 2M SDE, while diffusers spaces these ids' steps evenly, which A1111 calls "Uniform".
# DDIM, PLMS and UniPC have their own timesteps in A1111 and ignore the schedule type: it says "Automatic".
# FLUX's flow-matching Euler is what Forge and ComfyUI write as Euler with the "Simple" schedule.
A1111_NAMES: dict[str, tuple[str, str]] = {
    "ddim": ("DDIM", "Automatic"),
    "ddpm": ("DDPM", "Automatic"),
    "pndm": ("PLMS", "Automatic"),
    "lms": ("LMS", "Uniform"),
    "euler": ("Euler", "Uniform"),
    "euler_a": ("Euler a", "Uniform"),
    "heun": ("Heun", "Uniform"),
    "dpmpp_2m": ("DPM++ 2M", "Uniform"),
    "dpmpp_2m_karras": ("DPM++ 2M", "Karras"),
    "dpmpp_2m_sde": ("DPM++ 2M SDE", "Uniform"),
    "unipc": ("UniPC", "Automatic"),
    "flow_match_euler": ("Euler", "Simple"),
}


def a1111_sampler(name: str) -> tuple[str, str | None]:
    """(`Sampler`, `Schedule type`) as A1111 writes them for sampler id `name`; an unknown id stays as it is."""
    return A1111_NAMES.get(name, (name, None))


def scheduler_table() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each sampler id → (diffusers scheduler class, settings over the model's own)."""
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        FlowMatchEulerDiscreteScheduler,
        HeunDiscreteScheduler,
        LMSDiscreteScheduler,
        PNDMScheduler,
        UniPCMultistepScheduler,
    )

    return {
        "ddim": (DDIMScheduler, {}),
        "ddpm": (DDPMScheduler, {}),
        "pndm": (PNDMScheduler, {"skip_prk_steps": True}),
        "lms": (LMSDiscreteScheduler, {}),
        "euler": (EulerDiscreteScheduler, {}),
        "euler_a": (EulerAncestralDiscreteScheduler, {}),
        "heun": (HeunDiscreteScheduler, {}),
        "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
        "dpmpp_2m_karras": (
            DPMSolverMultistepScheduler,
            {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
        ),
        "dpmpp_2m_sde": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
        "unipc": (UniPCMultistepScheduler, {}),
        # FLUX samples with flow matching; the resolution-dependent shift stays in the model's config.
        "flow_match_euler": (FlowMatchEulerDiscreteScheduler, {}),
    }


def make_scheduler(name: str, base_config: Any) -> Any:
    """A new scheduler of kind `name`, keeping the model's own schedule settings (betas, spacing, prediction)."""
    table = scheduler_table()
    if name not in table:
        raise InvalidRequest(f"Unknown scheduler '{name}'. Choose one of: {', '.join(table)}.")
    cls, overrides = table[name]
    return cls.from_config(base_config, **overrides)
