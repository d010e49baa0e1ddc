"""Texts every message of the bot shares: queue and progress lines, failures, ETAs, hidden paths.

How each kind of result looks is in its own module (`render_images` for images), chosen by the
result's type when it is delivered (`bot.delivery.RENDERERS`).
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import discord
from discord import app_commands

from studio.contract import Progress
from studio.images.api import ResultImage
from studio.models.api import ModelsApi

MAX_CONTENT = 2000
MAX_ATTACHMENTS = 10
MAX_AUTOCOMPLETE = 25
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord refuses bot uploads above about 10 MiB per message
GENERIC_ERROR = "Something went wrong, it was logged."


def fmt_eta(eta_s: float | None) -> str:
    """A short human ETA: '≈ 45 s', '≈ 3 min', 'unknown'."""
    if eta_s is None or eta_s < 0:
        return "unknown"
    if eta_s < 60:
        return f"≈ {max(1, round(eta_s))} s"
    if eta_s < 3600:
        return f"≈ {round(eta_s / 60)} min"
    return f"≈ {eta_s / 3600:.1f} h"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def queued_text(position: int, eta_s: float | None) -> str:
    where = "next up" if position <= 0 else f"position {position}"
    return f"⏳ Queued: {where}, ETA {fmt_eta(eta_s)}"


def progress_text(progress: Progress) -> str:
    detail = f" ({progress.detail})" if progress.detail else ""
    return f"🎨 {progress.label}: step {progress.step} of {progress.total}{detail}, ETA {fmt_eta(progress.eta_s)}"


# An absolute path on the server (POSIX or Windows); users see only its last part.
_SERVER_PATH = re.compile(r"(?<![\w/:])(?:/|[A-Za-z]:\\)(?:[\w.\-]+[/\\])+([\w.\-]*)")


def hide_paths(message: str) -> str:
    """Server file paths stay on the server: keep only the file or folder name."""
    return _SERVER_PATH.sub(lambda m: m.group(1) or "(a folder)", message)


def failed_text(message: str) -> str:
    return clip(f"❌ {hide_paths(message)}", MAX_CONTENT)


CANCELLED_TEXT = "✖ Cancelled"


@dataclass
class Rendered:
    """A result as one Discord message; `dropped` says what did not fit."""

    content: str | None
    embed: discord.Embed | None = None
    files: list[discord.File] = field(default_factory=list)
    view: discord.ui.View | None = None


def spoiled(name: str, spoiler: bool) -> str:
    return f"SPOILER_{name}" if spoiler and not name.startswith("SPOILER_") else name


def image_filename(job_id: int, image: ResultImage, spoiler: bool) -> str:
    """`job12_3.png` for the third image (the services index from 0, users count from 1)."""
    suffix = image.path.suffix or ".png"
    return spoiled(f"job{job_id}_{image.index + 1}{suffix}", spoiler)


async def image_file(path: Path, filename: str) -> discord.File:
    data = await asyncio.to_thread(path.read_bytes)
    return discord.File(io.BytesIO(data), filename=filename)


async def model_choices(models: ModelsApi, current: str) -> list[app_commands.Choice[str]]:
    """The `model` option's autocomplete, within Discord's 25 choices of 100 characters."""
    choices = await models.autocomplete(current)
    return [
        app_commands.Choice(name=(c.label or c.value)[:100], value=c.value[:100]) for c in choices[:MAX_AUTOCOMPLETE]
    ]
