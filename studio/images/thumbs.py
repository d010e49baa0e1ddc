"""Where an image's thumbnail is kept: named after the image's file, so that deleting a user's images (which knows
their files, `studio.privacy`) finds their thumbnails too."""

from __future__ import annotations

import hashlib
from pathlib import Path


def thumbnail_path(thumbs_dir: Path, image_path: Path) -> Path:
    """The WebP thumbnail of the image stored at `image_path` (made by `studio.images.files`)."""
    return thumbs_dir / f"{hashlib.sha256(str(image_path).encode()).hexdigest()[:32]}.webp"
