"""The generate task: run a generation, write PNGs with their parameters and a grid, return the files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from engine.diffusion.schedulers import a1111_sampler
from engine.families.registry import family_of
from engine.images.file_hashes import ResourceHashes, resource_hashes
from engine.images.output import a1111_parameters, encode_for_upload, make_grid, save_png, studio_version, write_bytes
from engine.types import GeneratedImage, ResolvedParams
from engine.work import MASK, SOURCE, GenerateTask, ImagesOutcome, OutputFile, OutputImage, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> ImagesOutcome:
    task = order.request
    assert isinstance(task, GenerateTask), type(task)
    return generate_images(host, ctx, task, order.require_out_dir(), order.input(SOURCE), order.input(MASK))


def generate_images(
    host: EngineHost, ctx: WorkContext, task: GenerateTask, out_dir: Path, source: Path | None, mask: Path | None
) -> ImagesOutcome:
    """Generate (from `source` and `mask` when given) and write `<index>.png` files and `grid.<ext>`."""
    # 1. Inputs: the files the order names, opened here on the worker (PIL work stays off the event loop).
    request = task.request
    if source is not None:
        with Image.open(source) as img:
            request = replace(request, init_image=img.convert("RGB"))
    if mask is not None:
        with Image.open(mask) as img:
            request = replace(request, mask_image=img.convert("L"))
    # 2. The generation itself.
    result = host.manager().generate(request, task.model, on_progress=ctx.report, should_cancel=ctx.cancelled)
    p = result.params
    # 3. One PNG per image, with the parameters A1111 and ComfyUI read back, and the grid users see first.
    hashes = job_hashes(task, host.manager().cache_dir)
    saved = tuple(write_image(p, generated, out_dir, hashes) for generated in result.images)
    grid_text = parameters_text(p, result.images[0].seed, hashes) if result.images else None
    grid = write_grid([g.image for g in result.images], out_dir, grid_text)
    return ImagesOutcome(p, saved, grid, result.elapsed_s)


def job_hashes(task: GenerateTask, cache_dir: Path | None) -> ResourceHashes:
    """The hashes of the job's model and LoRA files (each file read once per version, cached in `cache_dir`)."""
    return resource_hashes(task.model.source, [(lora.name, lora.path) for lora in task.request.loras], cache_dir)


def parameters_text(p: ResolvedParams, seed: int, hashes: ResourceHashes | None = None) -> str:
    """A1111's `parameters` text for an image of the job made with `seed` (a grid: the first image's)."""
    hashes = hashes or ResourceHashes()
    sampler, schedule_type = a1111_sampler(p.scheduler)
    return a1111_parameters(
        prompt=p.prompt,
        negative_prompt=p.negative,
        steps=p.steps,
        sampler=sampler,
        cfg_scale=p.guidance,
        seed=seed,
        width=p.width,
        height=p.height,
        model=p.model,
        loras=p.loras,
        extra=_a1111_extra(p),
        schedule_type=schedule_type,
        model_hash=hashes.model_hash,
        lora_hashes=hashes.lora_hashes,
        version=studio_version(),
        hashes=hashes.civitai,
    )


def _a1111_extra(p: ResolvedParams) -> dict[str, Any] | None:
    """The parameters text's further fields: the strength of an edit, and the family's own settings A1111 names."""
    extra: dict[str, Any] = {} if p.strength is None else {"Denoising strength": p.strength}
    for setting in family_of(p.family).extra_settings:
        if setting.a1111 and setting.name in p.extras:
            extra[setting.a1111] = p.extras[setting.name]
    return extra or None


def write_image(
    p: ResolvedParams, generated: GeneratedImage, out_dir: Path, hashes: ResourceHashes | None = None
) -> OutputImage:
    """`<index>.png` with the parameters that made it (A1111's `parameters` chunk)."""
    text = parameters_text(p, generated.seed, hashes)
    path = out_dir / f"{generated.index}.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    sha, size = save_png(generated.image, path, text)
    width, height = generated.image.size
    return OutputImage(generated.index, generated.seed, OutputFile(path, sha, size), width, height)


def write_grid(images: list[Image.Image], out_dir: Path, parameters: str | None = None) -> OutputFile | None:
    """The grid of several images, encoded to fit an upload, with `parameters` inside; None for one image."""
    if len(images) < 2:
        return None
    data, ext = encode_for_upload(make_grid(images), parameters=parameters)
    path = out_dir / f"grid.{ext}"
    sha, size = write_bytes(path, data)
    return OutputFile(path, sha, size)
