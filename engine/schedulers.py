"""Samplers by name: a fresh scheduler per request, keeping the model's own schedule settings."""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidRequest


def make_scheduler(name: str, base_config: Any) -> Any:
    """A new scheduler of kind `name`, keeping the model's own schedule settings (betas, spacing, prediction)."""
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

    table: dict[str, tuple[Any, dict[str, Any]]] = {
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
    if name not in table:
        raise InvalidRequest(f"Unknown scheduler '{name}'. Choose one of: {', '.join(table)}.")
    cls, overrides = table[name]
    return cls.from_config(base_config, **overrides)
