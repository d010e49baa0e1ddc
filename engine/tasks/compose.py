"""The compose task (/vary and /edit): find the mask, caption, compose the output prompt, then generate."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PIL import Image

from engine.errors import InvalidRequest
from engine.families.registry import family_of
from engine.images.output import write_bytes
from engine.prompting.composer import ComposedPrompt, compose
from engine.prompting.text import clean_caption, with_trigger
from engine.tasks.generate import generate_images
from engine.work import MASK, SOURCE, ComposeOutcome, ComposeTask, OutputFile, WorkOrder

if TYPE_CHECKING:
    from pathlib import Path

    from engine.backends.base import WorkContext
    from engine.host import EngineHost


def _save_png(image: Image.Image, path: Path) -> OutputFile:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    sha, size = write_bytes(path, buffer.getvalue())
    return OutputFile(path, sha, size)


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> ComposeOutcome:
    from engine.vision.masks import mask_coverage, overlay_mask

    task = order.request
    assert isinstance(task, ComposeTask), type(task)
    source, mask_path = order.input(SOURCE), order.input(MASK)
    if source is None:
        raise ValueError(f"compose order for job {order.job_id} has no source image")
    out_dir = order.require_out_dir()
    with Image.open(source) as img:
        image = img.convert("RGB")
    # 1. The mask: given, or found from the region's words; shown to the user over the image.
    inpaint = task.region is not None or mask_path is not None
    found_mask = overlay = None
    if inpaint:
        out_dir.mkdir(parents=True, exist_ok=True)
        if mask_path is None:
            assert task.region is not None
            mask = host.segmenter().mask(image, task.region)
            if mask_coverage(mask) == 0.0:
                raise InvalidRequest(
                    f"Could not find '{task.region}' in the image: draw a mask instead "
                    "(white where it should change) and give it as `mask`."
                )
            found_mask = _save_png(mask, out_dir / "mask.png")
            mask_path = found_mask.path
        else:
            with Image.open(mask_path) as m:
                mask = m.convert("L")
        overlay = _save_png(overlay_mask(image, mask), out_dir / "mask_overlay.png")
    if not inpaint and task.generate.model.preset.edits_by_instruction:
        return _instruct(task, ctx, host, out_dir, source)
    # 2. The output prompt: a caption of the image, changed by the instruction.
    ctx.raise_if_cancelled()
    captioner = host.captioner(task.generate.model.preset.id)
    description = clean_caption(captioner.caption(image, "short")) or "an image"
    ctx.raise_if_cancelled()
    composed = _world_compose(task, description) or compose(description, task.instruction, rewriter=host.rewriter())
    full = with_trigger(composed.prompt, task.trigger_word)
    # 3. The generation. img2img takes the composer's strength unless the user gave one; inpaint keeps its default.
    strength = composed.strength_hint if task.strength is None and not inpaint else task.strength
    # A family without classifier-free guidance has no negative prompt to steer away from (the catalog refuses one).
    negative = composed.negative_prompt if family_of(task.generate.model.family).takes_negative_prompt else ""
    request = replace(task.generate.request, prompt=full, negative=negative, strength=strength)
    images = generate_images(host, ctx, replace(task.generate, request=request), out_dir, source, mask_path)
    return ComposeOutcome(
        images=images,
        prompt=composed.prompt,
        full_prompt=full,
        negative=negative,
        description=description,
        prompt_source=composed.source,
        mask=found_mask,
        overlay=overlay,
    )


def _world_compose(task: ComposeTask, description: str) -> ComposedPrompt | None:
    """For a model trained on the Tiny World: the caption edited in the world's own grammar, when it can be."""
    from engine.tiny.models import TRAINED

    if task.generate.model.preset.id != TRAINED:
        return None
    from engine.tiny.world.instructions import compose_world

    return compose_world(description, task.instruction)


def _instruct(task: ComposeTask, ctx: WorkContext, host: EngineHost, out_dir: Path, source: Path) -> ComposeOutcome:
    """FLUX.1 Kontext: the instruction itself is the prompt, applied to the image (no caption, no composing).

    Kontext is trained on instructions ("make it a watercolor", "she sits in a café") and keeps the people and
    things of the image; an output prompt composed from a caption would lose that.
    """
    instruction = " ".join(task.instruction.split())
    full = with_trigger(instruction, task.trigger_word)
    request = replace(task.generate.request, prompt=full, negative="", strength=None, instruct=True)
    ctx.raise_if_cancelled()
    images = generate_images(host, ctx, replace(task.generate, request=request), out_dir, source, None)
    return ComposeOutcome(
        images=images, prompt=instruction, full_prompt=full, negative="", description="", prompt_source="kontext"
    )
