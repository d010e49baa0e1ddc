"""The families the engine runs, keyed by their id: each family folder's `FAMILY`, registered here once.

The engine's modules ask `family_of(spec.family)` for what differs between families instead of testing the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from engine.errors import ModelUnavailable
from engine.families.base import Family
from engine.families.flux.family import FAMILY as FLUX
from engine.families.flux2.family import FAMILY as FLUX2
from engine.families.qwen.family import FAMILY as QWEN
from engine.families.sd15.family import FAMILY as SD15
from engine.families.sdxl.family import FAMILY as SDXL
from engine.families.zimage.family import FAMILY as ZIMAGE

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {family.id: family for family in (SD15, SDXL, FLUX, FLUX2, ZIMAGE, QWEN)}
)


def family_of(family_id: str) -> Family:
    """The family `family_id` names; ModelUnavailable (one line) for one the engine cannot run."""
    try:
        return FAMILIES[family_id]
    except KeyError:
        raise ModelUnavailable(
            f"Model family '{family_id}' is not supported yet. Supported families: {', '.join(FAMILIES)}."
        ) from None


def denoiser_name(family_id: str) -> str:
    """The pipeline component that denoises (and that LoRAs patch): `unet` or `transformer`."""
    return family_of(family_id).denoiser_name


def denoiser(pipe: Any, family_id: str) -> Any:
    return getattr(pipe, denoiser_name(family_id))
