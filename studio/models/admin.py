"""Installing models: base models by an admin, LoRA files imported or produced by training."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import struct
from pathlib import Path

from engine import PICKLE_SUFFIXES, lora_family_of, wrong_family_message
from storage import Database, open_database
from storage.records import ModelRecord
from studio.errors import Refused, StudioError
from studio.models.service import ModelService
from studio.names import kept_name, name_key, path_slug
from studio.settings import Settings

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
MAX_HEADER = 100 * 1024 * 1024


def looks_like_path(source: str) -> bool:
    """Whether `source` names a file or folder rather than a hub id (`org/name`): a missing one is a mistake."""
    return (
        source.startswith(("/", ".", "~", "\\"))
        or "\\" in source
        or source.count("/") > 1
        or source.lower().endswith(WEIGHT_SUFFIXES)
    )


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
    typed = kept_name(name, "model name")
    path = Path(source)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise StudioError(f"{path.name}: pickle checkpoints can run code when loaded; use a .safetensors file.")
    path = await asyncio.to_thread(path.expanduser)
    exists, is_file = await asyncio.to_thread(lambda: (path.exists(), path.is_file()))
    if exists:
        if is_file and path.suffix.lower() != ".safetensors":
            raise StudioError(f"{path.name}: a single-file checkpoint must be .safetensors.")
        source = str(path.resolve())
    elif looks_like_path(source):
        raise StudioError(f"{source} does not exist: give an existing diffusers folder or .safetensors file.")
    elif not HUB_ID.match(source):
        raise StudioError(f"{source!r} is neither an existing folder or .safetensors file nor a hub id like org/name.")
    own = db is None
    db = db or await _with_db(settings)
    try:
        await _refuse_taken(db, settings, typed)
        return await db.models.add(
            name=path_slug(typed),
            key=typed,
            display_name=display_name or typed,
            kind="base",
            family=family,
            source=source,
            config={},
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
    """Copy a LoRA file into the data folder and list it in the picker, under its name as typed."""
    typed = kept_name(name, "model name")
    slug = path_slug(typed)
    await asyncio.to_thread(check_lora_file, path)
    own = db is None
    db = db or await _with_db(settings)
    try:
        base = await ModelService(db, settings.default_model).resolve(base_model)
        if base.loras:
            raise StudioError(f"{base_model!r} is a LoRA; give the base model it was trained on.")
        looks = await asyncio.to_thread(lora_family_of, path)
        if looks is not None and looks != base.spec.family:
            raise StudioError(wrong_family_message(path.name, looks, base.spec.name, base.spec.family))
        await _refuse_taken(db, settings, typed)
        target = settings.loras_dir / f"{slug}.safetensors"
        await asyncio.to_thread(_copy, path, target)
        return await db.models.add(
            name=slug,
            key=typed,
            display_name=typed,
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


async def _refuse_taken(db: Database, settings: Settings, typed: str) -> None:
    """Refuse a name a preset, base model or LoRA already has, in any case: one would hide the other."""
    key, slug = name_key(typed), path_slug(typed)
    for info in await ModelService(db, settings.default_model).catalog():
        if name_key(info.name) == key:
            what = "a base model" if info.kind == "base" else "a LoRA"
            raise Refused(f"{typed!r} is already the name of {what} ({info.name}): pick another name.")
    found = await db.models.get(typed)  # a disabled model keeps its name
    if found is not None or await db.models.get(slug) is not None:
        raise Refused(f"A model named {typed!r} is installed already (maybe disabled): pick another name.")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


async def set_active(settings: Settings, name: str, active: bool) -> str:
    """Show (`enable`) or hide (`disable`) an installed model; returns its name as shown."""
    db = await _with_db(settings)
    try:
        record = await db.models.get(name)
        if record is None:
            every = await db.models.list(kind=None, category=None, active_only=False)
            hidden = [r.display_name if r.kind == "lora" else r.name for r in every if not r.active]
            known = f"; disabled: {', '.join(hidden)}" if hidden else "; `studio models list` shows the enabled ones"
            raise StudioError(f"No installed model named {name!r}{known}.")
        await db.models.set_active(record.name, active)
        return record.display_name if record.kind == "lora" else record.name
    finally:
        await db.close()


async def export_lora(settings: Settings, name: str, fmt: str, out: Path, force: bool = False) -> Path:
    """Copy a trained LoRA's file in `fmt` (kohya or diffusers) to `out`; StudioError says what is missing.

    The studio's own files are never a target, and an existing file is replaced only with `force`.
    """
    db = await _with_db(settings)
    try:
        record = await db.models.get(name)
        registered = [Path(r.source) for r in await db.models.list(kind=None, category=None, active_only=False)]
    finally:
        await db.close()
    if record is None or record.kind != "lora":
        raise StudioError(f"No LoRA named {name!r}; `studio models list` shows them.")
    if "run_id" not in record.config:
        raise StudioError(f"{name!r} was imported, not trained here: its file is {Path(record.source).name} as is.")
    stem = record.name  # files are named by the stored slug, whatever case the name was asked in
    source = settings.loras_dir / (f"{stem}_kohya.safetensors" if fmt == "kohya" else f"{stem}.safetensors")
    if not source.is_file():
        raise StudioError(f"The {fmt} file of {name!r} is missing from {settings.loras_dir}.")
    if out.suffix != ".safetensors":
        out = out.with_name(out.name + ".safetensors")
    await asyncio.to_thread(_check_export_target, settings, out, registered, force)
    await asyncio.to_thread(_copy, source, out)
    return out


def _check_export_target(settings: Settings, out: Path, registered: list[Path], force: bool) -> None:
    """Refuse a target inside the studio's model folders or on a registered file, and an existing file."""
    target = out.expanduser().resolve()
    for folder in (settings.loras_dir, settings.models_dir, settings.training_dir):
        if target.is_relative_to(folder.expanduser().resolve()):
            raise StudioError(f"{out} is inside the studio's {folder.name} folder: export somewhere else.")
    own = {p.expanduser().resolve() for p in registered}
    own |= {p.with_name(p.stem + "_kohya.safetensors") for p in own}
    if target in own:
        raise StudioError(f"{out} is a model file the studio uses: export somewhere else.")
    if target.is_dir():
        raise StudioError(f"{out} is a folder: give a file name, e.g. {out / 'lora.safetensors'}.")
    if target.exists() and not force:
        raise StudioError(f"{out} exists already: add --force to replace it, or pick another name.")
