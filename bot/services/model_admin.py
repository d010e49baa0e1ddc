"""Installing models: base models by an admin, LoRA files imported or produced by training."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import struct
from pathlib import Path

from bot.services.errors import StudioError
from bot.services.models import ModelService
from bot.settings import Settings
from engine.catalog import PICKLE_SUFFIXES
from storage import Database, open_database
from storage.records import ModelRecord

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MAX_HEADER = 100 * 1024 * 1024


def slugify(name: str) -> str:
    """A safe file and catalog name: lower-case letters, digits and dashes, at most 48 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:48].strip("-")
    if not slug:
        raise StudioError("Give a name with at least one letter or digit.")
    return slug


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, read from its header (nothing is executed)."""
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if not 0 < length <= MAX_HEADER:
                raise ValueError("bad header length")
            header = json.loads(fh.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise StudioError(f"{path.name} is not a valid .safetensors file.") from exc
    return [k for k in header if k != "__metadata__"]


def check_lora_file(path: Path) -> int:
    """Refuse anything that is not a safetensors LoRA; returns the number of tensors."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise StudioError(f"{path.name}: pickle formats can run code when loaded; convert it to .safetensors.")
    if path.suffix.lower() != ".safetensors":
        raise StudioError(f"{path.name}: LoRAs load only from .safetensors files.")
    keys = safetensors_keys(path)
    if not keys or not all("lora" in k or k.endswith(".alpha") for k in keys):
        raise StudioError(f"{path.name} holds no LoRA weights (every tensor name should contain 'lora').")
    return len(keys)


async def _with_db(settings: Settings) -> Database:
    return await open_database(settings.db_path)


async def add_base_model(
    settings: Settings, name: str, source: str, family: str, display_name: str | None = None, db: Database | None = None
) -> ModelRecord:
    """Register a base model from a diffusers folder, a single .safetensors file or a hub id."""
    slug = slugify(name)
    path = Path(source)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise StudioError(f"{path.name}: pickle checkpoints can run code when loaded; use a .safetensors file.")
    path = await asyncio.to_thread(path.expanduser)
    exists, is_file = await asyncio.to_thread(lambda: (path.exists(), path.is_file()))
    if exists:
        if is_file and path.suffix.lower() != ".safetensors":
            raise StudioError(f"{path.name}: a single-file checkpoint must be .safetensors.")
        source = str(path.resolve())
    elif not HUB_ID.match(source):
        raise StudioError(f"{source!r} is neither an existing folder or .safetensors file nor a hub id like org/name.")
    own = db is None
    db = db or await _with_db(settings)
    try:
        if slug in {m.name for m in await ModelService(db, settings.default_model).catalog()}:
            raise StudioError(f"A model named {slug!r} already exists.")
        return await db.models.add(
            name=slug, display_name=display_name or name, kind="base", family=family, source=source, config={}
        )
    finally:
        if own:
            await db.close()


async def import_lora(
    settings: Settings,
    path: Path,
    name: str,
    base_model: str,
    trigger_word: str | None = None,
    created_by: int | None = None,
    db: Database | None = None,
) -> ModelRecord:
    """Copy a LoRA file into the data folder and list it in the picker."""
    slug = slugify(name)
    await asyncio.to_thread(check_lora_file, path)
    own = db is None
    db = db or await _with_db(settings)
    try:
        base = await ModelService(db, settings.default_model).resolve(base_model)
        if base.loras:
            raise StudioError(f"{base_model!r} is a LoRA; give the base model it was trained on.")
        if await db.models.get(slug) is not None:
            raise StudioError(f"A model named {slug!r} already exists.")
        target = settings.loras_dir / f"{slug}.safetensors"
        await asyncio.to_thread(_copy, path, target)
        return await db.models.add(
            name=slug,
            display_name=name,
            kind="lora",
            family=base.spec.family,
            source=str(target.resolve()),
            base_model=base.spec.name,
            trigger_word=trigger_word,
            config={"imported_from": path.name},
            created_by=created_by,
        )
    finally:
        if own:
            await db.close()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


async def set_active(settings: Settings, name: str, active: bool) -> None:
    db = await _with_db(settings)
    try:
        if await db.models.get(name) is None:
            raise StudioError(f"No installed model named {name!r}.")
        await db.models.set_active(name, active)
    finally:
        await db.close()


async def export_lora(settings: Settings, name: str, fmt: str, out: Path) -> Path:
    """Copy a trained LoRA's file in `fmt` (kohya or diffusers) to `out`; StudioError says what is missing."""
    db = await _with_db(settings)
    try:
        record = await db.models.get(name)
    finally:
        await db.close()
    if record is None or record.kind != "lora":
        raise StudioError(f"No LoRA named {name!r}; `studio models list` shows them.")
    if "run_id" not in record.config:
        raise StudioError(f"{name!r} was imported, not trained here: its file is {Path(record.source).name} as is.")
    source = settings.loras_dir / (f"{name}_kohya.safetensors" if fmt == "kohya" else f"{name}.safetensors")
    if not source.is_file():
        raise StudioError(f"The {fmt} file of {name!r} is missing from {settings.loras_dir}.")
    if out.suffix != ".safetensors":
        out = out.with_name(out.name + ".safetensors")
    await asyncio.to_thread(_copy, source, out)
    return out
