"""The sheet task: one group of a character sheet, each panel made from the reference image.

With a model that edits by instruction (FLUX.1 Kontext) each panel is an instruction applied to the reference,
which keeps the face far better than image-to-image (the reference workflow's baseline); with any other model a
panel is image-to-image from the reference with the panel's words added to its caption. A model that edits from
several references (FLUX.2 [klein]) also receives the best panels made so far, those the image embedder finds most
like the reference: more views of the same character keep it better than one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from engine.errors import ModelUnavailable
from engine.families.registry import family_of
from engine.prompting.text import clean_caption, with_trigger
from engine.tasks.generate import job_hashes, parameters_text, write_grid, write_image
from engine.vision.embedder import EmbedderUnavailable
from engine.work import SOURCE, ImagesOutcome, OutputImage, SheetOutcome, SheetTask, WorkOrder

if TYPE_CHECKING:
    from engine.backends.base import WorkContext
    from engine.host import EngineHost

log = logging.getLogger(__name__)

PROGRESS_SCALE = 100  # progress in hundredths of a panel, so the bar moves within each panel
KONTEXT = "kontext"
REFERENCES = "references"  # instructions on the reference and the best panels so far
IMG2IMG = "img2img"


def instruction(panel: str) -> str:
    """A panel's words as an instruction Kontext follows while keeping who it is."""
    return f"Show this same character, {panel}. Keep the face, hairstyle and clothes exactly the same."


def _caption(host: EngineHost, task: SheetTask, reference: Image.Image) -> str:
    """What the reference shows, in words its model knows (a model may have its own captioner)."""
    captioner = host.captioner(task.generate.model.preset.id)
    return clean_caption(captioner.caption(reference, "short")) or "a character"


class BestPicks:
    """The panels made so far, the most like the reference first (cosine of their embeddings). Each image is embedded
    once: a sheet asks after every panel, and embedding the reference and all earlier panels again each time would
    grow with the square of its 30 panels. None are picked when no embedder can be loaded (the reference alone then,
    as for a one-reference model)."""

    def __init__(self, host: EngineHost, reference: Image.Image) -> None:
        self._host = host
        self._reference = reference
        self._anchor: np.ndarray | None = None  # the reference's unit vector, once embedded
        self._likeness: list[float] = []  # of made[i] to the reference, in the order they were made
        self._unavailable = False

    def __call__(self, made: list[Image.Image], most: int) -> list[Image.Image]:
        if most <= 0 or not made or self._unavailable:
            return []
        fresh = made[len(self._likeness) :]
        first = [self._reference] if self._anchor is None else []
        try:
            vectors = self._host.embedder().embed([*first, *fresh])
        except EmbedderUnavailable as exc:  # no embedder weights here: the sheet still runs, from the reference alone
            log.warning("Sheet panels use the reference alone: no image embedder (%s)", exc)
            self._unavailable = True
            return []
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        if self._anchor is None:
            self._anchor, unit = unit[0], unit[1:]
        self._likeness += [float(u @ self._anchor) for u in unit]
        order = sorted(range(len(made)), key=lambda i: -self._likeness[i])
        return [made[i] for i in order[:most]]


def run(order: WorkOrder, ctx: WorkContext, host: EngineHost) -> SheetOutcome:
    task = order.request
    assert isinstance(task, SheetTask), type(task)
    source = order.input(SOURCE)
    if source is None:
        raise ValueError(f"sheet order for job {order.job_id} has no reference image")
    out_dir = order.require_out_dir()
    started = time.monotonic()
    with Image.open(source) as img:
        reference = img.convert("RGB")
    kontext = task.generate.model.preset.edits_by_instruction
    # A model that edits from several references gets the best panels so far beside the reference.
    extra = family_of(task.generate.model.family).max_references - 1 if kontext else 0
    best_picks = BestPicks(host, reference)
    # 1. The words every panel starts from: what the reference shows (Kontext reads the reference itself).
    if kontext:
        description = task.description or "the reference image"
    else:
        description = task.description or _caption(host, task, reference)
    total = len(task.panels) * PROGRESS_SCALE
    base = task.generate.request
    seed = base.seed if base.seed is not None else 0
    hashes = job_hashes(task.generate, host.manager().cache_dir)
    saved: list[OutputImage] = []
    prompts: list[str] = []
    images: list[Image.Image] = []
    params = None
    # 2. One image per panel, each with its own prompt and seed, all from the reference.
    for index, panel in enumerate(task.panels):
        ctx.raise_if_cancelled()
        prompt = with_trigger(instruction(panel) if kontext else f"{description}, {panel}", task.trigger_word)

        def report(step: int, steps: int, done: int = index) -> None:
            ctx.report(done * PROGRESS_SCALE + step * PROGRESS_SCALE // max(steps, 1), total)

        request = replace(base, prompt=prompt, count=1, seed=seed + index, init_image=reference)
        if kontext:
            picks = tuple(best_picks(images, extra))
            request = replace(request, instruct=True, strength=None, negative="", references=picks)
        result = host.manager().generate(request, task.generate.model, on_progress=report, should_cancel=ctx.cancelled)
        params = params or result.params
        generated = replace(result.images[0], index=index)  # panel i is image i of the group
        saved.append(write_image(result.params, generated, out_dir, hashes))
        prompts.append(prompt)
        images.append(generated.image)
    assert params is not None
    # 3. The group's grid, as for any result.
    grid = write_grid(images, out_dir, parameters_text(params, seed, hashes))
    outcome = ImagesOutcome(params, tuple(saved), grid, time.monotonic() - started)
    identity, kept = panel_identity(host, task.generate.model.preset.id, reference, images)
    method = (REFERENCES if extra > 0 else KONTEXT) if kontext else IMG2IMG
    return SheetOutcome(outcome, tuple(prompts), description, method, identity, kept)


def panel_identity(
    host: EngineHost, model: str, reference: Image.Image, panels: list[Image.Image]
) -> tuple[tuple[float, ...] | None, int | None]:
    """Each panel's cosine to the reference, and how many keep its identity, by the base model's own eyes.

    Only a model that brings its own embedder (tiny-world) is scored: its threshold was calibrated on its world;
    CLIP has no such threshold, and loading it for every sheet would cost more than the sheet."""
    from engine.vision.catalog import MODEL_EMBEDDERS

    if model not in MODEL_EMBEDDERS or not panels:
        return None, None
    try:
        embedder = host.embedder(model)
    except ModelUnavailable as exc:
        log.warning("no identity score for this sheet: %s", exc.message)
        return None, None
    vectors = np.asarray(embedder.embed([reference, *panels]), dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosines = tuple(round(float(c), 4) for c in vectors[1:] @ vectors[0])
    threshold = getattr(embedder, "identity_threshold", None)
    kept = None if threshold is None else sum(c >= threshold for c in cosines)
    return cosines, kept
