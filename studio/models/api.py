"""What the adapters may ask of the model picker and catalog, and what they get back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine import SUPPORTED_FAMILIES
from studio.contract import Caller

# The families a base model may be installed as (`studio models add --family`).
MODEL_FAMILIES: tuple[str, ...] = SUPPORTED_FAMILIES


@dataclass(frozen=True)
class ModelChoice:
    """One autocomplete entry: `value` is what the command receives."""

    value: str
    label: str


@dataclass(frozen=True)
class ModelInfo:
    """One model as users see it in /models."""

    name: str
    display_name: str
    kind: str  # base | lora
    family: str
    vram_gb: float | None
    quality: int | None
    speed: int | None
    default_steps: int | None
    default_guidance: float | None
    default_size: tuple[int, int] | None
    trigger_word: str | None
    base_model: str | None
    description: str
    licence: str | None = None  # the weights' licence, when it limits use (FLUX.1 [dev] is non-commercial)
    memory: str | None = None  # how much free GPU memory each way of holding it needs (FLUX.1)
    settings: tuple[str, ...] = ()  # its family's own settings, one line each ("clip_skip (…): what it does")


@dataclass(frozen=True)
class HelperModelInfo:
    """One captioner, segmenter, rewriter or embedder the engine knows, as `studio models list` shows it."""

    id: str
    kind: str  # captioner | segmenter | rewriter | embedder
    source: str  # hub id, local folder, or "builtin:<name>"
    is_test_model: bool
    selected: bool  # named by its setting (STUDIO_CAPTIONER, ...)


class ModelsApi(Protocol):
    async def autocomplete(self, current: str) -> list[ModelChoice]: ...

    async def catalog(self) -> list[ModelInfo]: ...


class ModelAdminApi(Protocol):
    """Installing models: the machine's owner only (`studio models add`, `import-lora`, the web's owner)."""

    async def add_base(
        self, caller: Caller, name: str, source: str, family: str, display_name: str | None = None
    ) -> ModelInfo: ...

    async def import_lora(
        self, caller: Caller, path: str, name: str, base_model: str, trigger_word: str | None = None
    ) -> ModelInfo: ...
