"""A numbered contact sheet of a training set: thumbnails in rows, each with its number (blocking: PIL)."""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

CELL = 160  # thumbnail box, px
COLUMNS = 6
GAP = 6
FLAG_COLOUR = (220, 40, 40)
BACKGROUND = (32, 34, 37)  # Discord's dark theme, so the sheet reads as one block


def _thumbnail(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as img:
            image = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, UnidentifiedImageError):
        return None
    image.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
    return image


def contact_sheet(paths: Sequence[Path], flagged: Collection[int] = ()) -> bytes:
    """PNG of every image, numbered from 1 in order; numbers in `flagged` get a red frame (weak images)."""
    if not paths:
        raise ValueError("a contact sheet needs at least one image")
    columns = min(COLUMNS, len(paths))
    rows = math.ceil(len(paths) / columns)
    sheet = Image.new("RGB", (columns * (CELL + GAP) + GAP, rows * (CELL + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=22)
    for index, path in enumerate(paths):
        number = index + 1
        row, column = divmod(index, columns)
        x, y = GAP + column * (CELL + GAP), GAP + row * (CELL + GAP)
        thumb = _thumbnail(path)
        if thumb is None:  # unreadable: an empty cell that still carries its number
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=(70, 70, 70))
        else:
            sheet.paste(thumb, (x + (CELL - thumb.width) // 2, y + (CELL - thumb.height) // 2))
        if number in flagged:
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), outline=FLAG_COLOUR, width=4)
        label = str(number)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        draw.rectangle((x, y, x + right - left + 10, y + bottom - top + 10), fill=(0, 0, 0))
        draw.text((x + 5 - left, y + 5 - top), label, fill=(255, 255, 255), font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
