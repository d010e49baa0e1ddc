"""A folder of images for `studio train`, checked before anything is copied: each image decodes, each caption reads,
and something can caption the images that have no `.txt` beside them (`read_folder` and `captioner_problem` block:
call them through `asyncio.to_thread`); then the training set filled from it (`check_folder`, `fill_set`).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine import MAX_UPLOAD_PIXELS, ImageRejected, ModelUnavailable, load_image
from studio.contract import Caller
from studio.errors import StudioError
from studio.names import same_name
from studio.training.api import TrainOverrides

if TYPE_CHECKING:
    from studio.container import Services

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class FolderImage:
    path: Path
    data: bytes
    sha256: str  # how the training set names its copy
    caption: str | None  # from the `.txt` beside it; None: the captioner writes one


def read_folder(folder: Path, max_bytes: int) -> list[FolderImage]:
    """The folder's images by name, each checked as an upload is; StudioError naming the first bad file."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        try:
            data = path.read_bytes()
            load_image(data, max_bytes=max_bytes, max_pixels=MAX_UPLOAD_PIXELS)
        except OSError as exc:
            raise StudioError(
                f"{path} cannot be read ({exc.strerror or exc}): fix its permissions or move it out."
            ) from None
        except ImageRejected as exc:
            why = str(exc).split(". ")[0].rstrip(".")  # its first sentence: the rest speaks of uploads
            raise StudioError(
                f"{path} is not a usable image ({why}): remove it from the folder or replace it."
            ) from None
        found.append(FolderImage(path, data, hashlib.sha256(data).hexdigest(), _caption(path.with_suffix(".txt"))))
    if not found:
        raise StudioError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {folder}.")
    return found


def _caption(text: Path) -> str | None:
    if not text.is_file():
        return None
    try:
        caption = " ".join(text.read_text(encoding="utf-8").split())
    except (OSError, UnicodeDecodeError) as exc:
        raise StudioError(f"{text} cannot be read as a UTF-8 caption ({exc}): fix it or remove it.") from None
    return caption or None


def captioner_problem(name: str, *, offline: bool) -> str | None:
    """Why the captioner `name` cannot caption here (not a captioner, weights neither local nor downloadable), or
    None when it can. Nothing is loaded: a local folder or the hub cache's copy is taken on trust."""
    from engine import resolve_vision

    try:
        preset = resolve_vision("captioner", name)
    except ModelUnavailable as exc:
        return str(exc)
    if preset.is_test_model or Path(preset.source).expanduser().is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(preset.source, "config.json"), str):
        return None
    from engine import hub_offline

    if offline or hub_offline():
        return (
            f"the captioner {preset.id} ({preset.source}) is not downloaded and the model hub cannot be reached: "
            f"run `hf download {preset.source}` where there is internet, or set STUDIO_CAPTIONER to one you have"
        )
    return None  # it downloads when the first caption is made


async def _existing_set(services: Services, caller: Caller, name: str) -> tuple[str | None, set[str]]:
    """The base model of the set `name` and the contents (sha256) of its images; (None, empty) when it is new."""
    kept = services.trainsets.set_name(name)
    if not any(same_name(s.name, kept) for s in await services.trainsets.list(caller)):  # in any case
        return None, set()
    found = await services.trainsets.named(caller, kept)
    return found.base_model, {item.path.stem for item in await services.db.training_sets.items(found.id)}


async def check_folder(
    services: Services,
    caller: Caller,
    found: list[FolderImage],
    name: str,
    base_model: str | None,
    overrides: TrainOverrides,
    *,
    force: bool,
) -> None:
    """Refuse the name, the settings, too few images or images nobody can caption, before the set changes."""
    await services.training.registry.free_name(name)  # a name that cannot be kept, or a base model's
    set_base, known = await _existing_set(services, caller, name)
    count = len(known | {image.sha256 for image in found})  # the set once the folder is in it
    await services.training.check_settings(caller, base_model or set_base, count, overrides)
    minimum = (await services.db.guild_settings.get(caller.guild_id)).min_training_images
    if count < minimum and not force:
        raise StudioError(
            f"{count} image(s): a training needs at least {minimum} (min_training_images). Add more to the folder, "
            "or pass --force to train on fewer."
        )
    uncaptioned = [image.path.name for image in found if image.caption is None and image.sha256 not in known]
    if uncaptioned:
        engine = services.settings.engine
        problem = await asyncio.to_thread(captioner_problem, engine.captioner, offline=engine.hf_offline)
        if problem is not None:
            raise StudioError(
                f"No caption for {len(uncaptioned)} image(s) (e.g. {uncaptioned[0]}): write a .txt beside each, "
                f"or make a captioner available ({problem})."
            )


async def fill_set(
    services: Services, caller: Caller, found: list[FolderImage], name: str, trigger: str | None, base: str | None
) -> int:
    """The training set `name` with the folder's images; `.txt` captions are a member's, the rest are captioned.
    How many images were new to the set. When the captioner leaves an image without a caption, the images this
    call added leave the set again."""
    new_set = not any(same_name(s.name, name) for s in await services.trainsets.list(caller))  # in any case
    if new_set:
        await services.trainsets.create(caller, name, trigger or name, base)
    added, captions = await services.trainsets.add_uploads(caller, [image.data for image in found], name)
    if captions is not None:
        await services.jobs.wait(captions)
    by_content = {item.path.stem: item for item in added}  # the set names its copies by their content
    for image in found:
        item = by_content.get(image.sha256)
        if item is not None and image.caption:
            await services.trainsets.caption(caller, item.number, image.caption, name)
    records = [await services.db.training_sets.item(item.item_id) for item in added]
    bare = [record for record in records if record is not None and not record.caption]
    if bare:
        if new_set:
            await services.trainsets.delete(caller, (await services.trainsets.named(caller, name)).id)
        else:
            await services.trainsets.remove_items([record for record in records if record is not None])
        failed = await services.db.jobs.get(captions) if captions is not None else None
        why = f" ({failed.error})" if failed is not None and failed.error else ""
        raise StudioError(
            f"The captioner left {len(bare)} image(s) without a caption{why}: write a .txt beside each image, or "
            "set STUDIO_CAPTIONER to a captioner you have. Nothing was trained; the set is as it was."
        )
    return len(added)
