"""The model picker: built-in presets plus the base models and LoRAs installed in the database."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from engine import LoraSpec, ModelPreset, ModelSpec, all_presets, family_of, family_preset
from storage import Database, open_database
from storage.records import ModelRecord
from studio.errors import NotFound, StudioError
from studio.models.api import HelperModelInfo, ModelChoice, ModelInfo
from studio.names import name_key

MAX_CHOICES = 25  # Discord's autocomplete limit
MAX_LABEL = 100


@dataclass(frozen=True)
class ResolvedModel:
    """A user's model choice made concrete: the base to load and the LoRAs to apply."""

    spec: ModelSpec
    loras: tuple[LoraSpec, ...]
    chosen: str  # what the user picked (a base or a LoRA name)
    trigger_word: str | None


class ModelService:
    """Lists and resolves models; the picker puts trained LoRAs first."""

    def __init__(self, db: Database, default_model: str) -> None:
        self._db = db
        self.default_model = default_model
        self._presets = {p.id: p for p in all_presets()}
        self._preset_keys = {name_key(p.id): p for p in self._presets.values()}  # `-m TINY-SD` finds tiny-sd

    async def _installed(self) -> list[ModelRecord]:
        return await self._db.models.list(kind=None, category="image", active_only=True)

    async def resolve(self, name: str | None, lora_scale: float | None = None) -> ResolvedModel:
        """Turn a picker value into a base model spec and LoRAs; unknown names get a clear error."""
        asked = (name or self.default_model).strip()
        preset = self._presets.get(asked) or self._preset_keys.get(name_key(asked))
        if preset is not None:
            return ResolvedModel(ModelSpec.from_preset(preset), (), preset.id, None)
        record = await self._db.models.get(asked)  # by its name in any case (storage.names)
        if record is None or not record.active:
            raise NotFound(f"Unknown model {asked!r}. Pick one from the list, or run /models to see them all.")
        chosen = record.name
        if record.kind == "base":
            return ResolvedModel(self._base_spec(record), (), chosen, None)
        if not record.base_model:
            raise StudioError(f"LoRA {chosen!r} names no base model; an admin must fix it with `studio models`.")
        base = await self.resolve(record.base_model)
        if base.spec.family != record.family:
            raise StudioError(
                f"LoRA {chosen!r} was trained for {record.family} but its base {record.base_model!r} is "
                f"{base.spec.family}; pick a matching base."
            )
        scale = 1.0 if lora_scale is None else lora_scale
        lora = LoraSpec(name=record.name, path=record.source, family=record.family, scale=scale)
        return ResolvedModel(base.spec, (lora,), chosen, record.trigger_word)

    def _base_spec(self, record: ModelRecord) -> ModelSpec:
        try:
            preset = family_preset(record.family)
        except Exception as exc:  # an unknown family in the database
            raise StudioError(f"Model {record.name!r} has an unsupported family {record.family!r}.") from exc
        return ModelSpec(name=record.name, family=record.family, source=record.source, preset=preset)

    async def instruct_model(self) -> str | None:
        """A model that edits by instruction (FLUX.1 Kontext) whose weights are on this machine, if any."""
        from engine import weights_present

        for preset in all_presets():
            if not preset.edits_by_instruction or preset.is_test_model:
                continue
            if await asyncio.to_thread(weights_present, ModelSpec.from_preset(preset)):  # reads the disk
                return preset.id
        return None

    async def autocomplete(self, current: str) -> list[ModelChoice]:
        """At most 25 choices matching what was typed: trained LoRAs (newest first), then base models."""
        needle = current.strip().lower()
        installed = await self._installed()
        loras = sorted((r for r in installed if r.kind == "lora"), key=lambda r: r.created_at, reverse=True)
        bases = [r for r in installed if r.kind == "base"]
        choices: list[ModelChoice] = []
        for record in loras:
            label = f"🎨 {record.display_name} — LoRA on {record.base_model}"
            choices.append(ModelChoice(record.name, label[:MAX_LABEL]))
        for preset in self._presets.values():
            tag = " (test model)" if preset.is_test_model else ""
            choices.append(ModelChoice(preset.id, f"{preset.display_name}{tag}"[:MAX_LABEL]))
        for record in bases:
            choices.append(ModelChoice(record.name, f"{record.display_name} ({record.family})"[:MAX_LABEL]))
        if needle:
            choices = [c for c in choices if needle in c.value.lower() or needle in c.label.lower()]
        return choices[:MAX_CHOICES]

    async def catalog(self) -> list[ModelInfo]:
        """Every active model as /models and `studio models list` show it: LoRAs first."""
        installed = await self._installed()
        infos = [self._lora_info(r) for r in installed if r.kind == "lora"]
        infos += [_preset_info(p) for p in self._presets.values()]
        infos += [_preset_info(family_preset(r.family), r) for r in installed if r.kind == "base"]
        return infos

    def _lora_info(self, record: ModelRecord) -> ModelInfo:
        return ModelInfo(
            name=record.name,
            display_name=record.display_name,
            kind="lora",
            family=record.family,
            vram_gb=None,
            quality=None,
            speed=None,
            default_steps=None,
            default_guidance=None,
            default_size=None,
            trigger_word=record.trigger_word,
            base_model=record.base_model,
            description=_lora_description(record),
            settings=_own_settings(record.family),
        )


def _lora_description(record: ModelRecord) -> str:
    """Its description, and for a LoRA trained here the scores of its checkpoint (runs can be compared)."""
    text = str(record.config.get("description", "")) or f"LoRA trained on {record.base_model}"
    scores = [
        f"{label} {record.config[key]:.3f}"
        for key, label in (("consistency", "consistency"), ("likeness", "likeness"))
        if isinstance(record.config.get(key), int | float)
    ]
    return f"{text} ({', '.join(scores)})" if scores else text


def _preset_info(preset: ModelPreset, record: ModelRecord | None = None) -> ModelInfo:
    return ModelInfo(
        name=record.name if record else preset.id,
        display_name=record.display_name if record else preset.display_name,
        kind="base",
        family=preset.family,
        vram_gb=preset.vram_gb,
        quality=preset.quality,
        speed=preset.speed,
        default_steps=preset.steps,
        default_guidance=preset.guidance,
        default_size=preset.default_size,
        trigger_word=None,
        base_model=None,
        description=(str(record.config.get("description", "")) if record else "") or preset.description,
        licence=preset.licence or None,
        memory=_memory_note(preset),
        settings=_own_settings(preset.family),
    )


def _memory_note(preset: ModelPreset) -> str | None:
    """What the model's family says about the GPU memory it needs (FLUX.1's ways of holding 12 B), if anything."""
    return family_of(preset.family).memory_note(preset)


def _own_settings(family: str) -> tuple[str, ...]:
    """The settings the model's family takes besides the common ones (`/generate settings:`, `--set`), described."""
    return tuple(setting.describe() for setting in family_of(family).extra_settings)


async def read_catalog(db_path: Path, default_model: str) -> list[ModelInfo]:
    """The picker's catalog read from the database at `db_path`, without the rest of the services."""
    db = await open_database(db_path)
    try:
        return await ModelService(db, default_model).catalog()
    finally:
        await db.close()


def helper_models(selected: Collection[str]) -> list[HelperModelInfo]:
    """Every vision model the engine's catalog knows; `selected`: the ids the settings name."""
    from engine import vision_presets

    return [HelperModelInfo(p.id, p.kind, p.source, p.is_test_model, p.id in selected) for p in vision_presets()]
