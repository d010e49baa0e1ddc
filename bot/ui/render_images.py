"""How an images result looks in Discord: the embed, the grid and the images within the upload limits."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

import discord

from bot.ui.buttons import result_view
from bot.ui.render import MAX_ATTACHMENTS, MAX_CONTENT, Rendered, clip, image_filename, spoiled
from studio.images.api import JobResult


def grid_filename(result: JobResult) -> str:
    # The grid is encoded to fit the upload limit: PNG when it fits, else WebP or JPEG; keep its extension.
    suffix = result.grid_path.suffix if result.grid_path is not None and result.grid_path.suffix else ".png"
    return spoiled(f"job{result.job_id}_grid{suffix}", result.spoiler)


def result_embed(result: JobResult, *, grid_attached: bool) -> discord.Embed:
    """The parameters a user needs to reproduce the result."""
    embed = discord.Embed(title=f"Job #{result.job_id}", description=clip(result.prompt, 4000), colour=0x5865F2)
    if result.negative_prompt:
        embed.add_field(name="Negative", value=clip(result.negative_prompt, 1024), inline=False)
    embed.add_field(name="Model", value=clip(result.model, 1024))
    embed.add_field(name="Seed", value=str(result.seed))
    embed.add_field(name="Steps", value=str(result.steps))
    embed.add_field(name="Guidance", value=f"{result.guidance:g}")
    embed.add_field(name="Size", value=f"{result.width}×{result.height}")
    if result.loras:
        loras = ", ".join(f"{name} ×{scale:g}" for name, scale in result.loras)
        embed.add_field(name="LoRAs", value=clip(loras, 1024), inline=False)
    if grid_attached and not result.spoiler:
        # A spoilered grid must not be shown unblurred inside the embed.
        embed.set_image(url=f"attachment://{grid_filename(result)}")
    return embed


@dataclass(frozen=True)
class AttachmentPlan:
    """Which files go with a result: (path, filename) pairs, and whether anything was left out."""

    files: tuple[tuple[Path, str], ...]
    grid_included: bool
    dropped: int


def plan_attachments(result: JobResult, sizes: dict[Path, int], limit_bytes: int) -> AttachmentPlan:
    """Grid first, then the individual images while they fit in 10 attachments and `limit_bytes`.

    Individual images are dropped before the grid; a grid too big on its own is replaced by
    whichever individual images still fit.
    """
    candidates: list[tuple[Path, str]] = []
    grid: tuple[Path, str] | None = None
    if result.grid_path is not None and len(result.images) != 1:
        grid = (result.grid_path, grid_filename(result))
    singles = [(img.path, image_filename(result.job_id, img, result.spoiler)) for img in result.images]
    # Extra files (e.g. the mask overlay of /edit) come after the images.
    singles += [(path, spoiled(f"job{result.job_id}_{path.name}", result.spoiler)) for path in result.extra_files]
    total = 0
    grid_included = False
    if grid is not None and sizes.get(grid[0], limit_bytes + 1) <= limit_bytes:
        candidates.append(grid)
        total += sizes[grid[0]]
        grid_included = True
    for path, name in singles:
        size = sizes.get(path)
        if size is None or len(candidates) >= MAX_ATTACHMENTS or total + size > limit_bytes:
            continue
        candidates.append((path, name))
        total += size
    wanted = len(singles) + (1 if grid is not None else 0)
    return AttachmentPlan(tuple(candidates), grid_included, wanted - len(candidates))


def _stat_sizes(paths: list[Path]) -> dict[Path, int]:
    sizes: dict[Path, int] = {}
    for path in paths:
        try:
            sizes[path] = path.stat().st_size
        except OSError:
            continue  # a missing file is simply not attached
    return sizes


def _read_all(pairs: tuple[tuple[Path, str], ...]) -> list[tuple[bytes, str]]:
    return [(path.read_bytes(), name) for path, name in pairs]


async def result_files(result: JobResult, limit_bytes: int) -> tuple[list[discord.File], AttachmentPlan]:
    """Read the planned files off the event loop and wrap them as discord.File objects."""
    paths = [img.path for img in result.images] + list(result.extra_files)
    if result.grid_path is not None:
        paths.append(result.grid_path)
    sizes = await asyncio.to_thread(_stat_sizes, paths)
    plan = plan_attachments(result, sizes, limit_bytes)
    blobs = await asyncio.to_thread(_read_all, plan.files)
    return [discord.File(io.BytesIO(data), filename=name) for data, name in blobs], plan


def result_content(result: JobResult, plan: AttachmentPlan, mention: int | None = None) -> str | None:
    parts: list[str] = []
    if mention is not None:
        parts.append(f"<@{mention}>")
    if result.note:
        parts.append(result.note)
    if plan.dropped:
        parts.append(f"({plan.dropped} file(s) left out: over Discord's upload limit; use U buttons for full size)")
    text = "\n".join(parts)
    return clip(text, MAX_CONTENT) if text else None


async def images_message(result: JobResult, limit_bytes: int, mention: int | None) -> Rendered:
    """The result message: content (mention, note), the parameters embed, grid and images, the buttons."""
    files, plan = await result_files(result, limit_bytes)
    return Rendered(
        content=result_content(result, plan, mention=mention),
        embed=result_embed(result, grid_attached=plan.grid_included),
        files=files,
        view=result_view(result),
    )
