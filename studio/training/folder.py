"""A folder of images for `studio train`, checked before anything is copied: each image decodes, each caption reads,
and something can caption the images that have no `.txt` beside them (blocking: call through `asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine import MAX_UPLOAD_PIXELS, ImageRejected, ModelUnavailable, load_image
from studio.errors import StudioError

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
