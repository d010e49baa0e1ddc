"""A fake engine host for service tests: the real tasks and file writing, with a fake pipeline. No torch.

`FakeEngineHost` runs the engine's own `generate` task, whose pipeline manager is `FakeManager`: it
resolves the request with the real catalog (defaults, bounds, seeds), reports every step (optionally
pausing, so tests can cancel), and paints one flat colour per seed. Describe and compose answer from
a canned caption. Every order is pickled and unpickled first, so every order the services send is
proven to be plain data.
"""

from __future__ import annotations

import io
import pickle
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.backends import WorkContext
from engine.catalog import ModelSpec, resolve
from engine.errors import Cancelled, InvalidRequest
from engine.images.output import write_bytes
from engine.prompting.text import with_trigger
from engine.tasks import check_set as check_set_task
from engine.tasks import generate as generate_task
from engine.tasks import sheet as sheet_task
from engine.types import GeneratedImage, GenerateRequest, GenerateResult
from engine.work import (
    MASK,
    SOURCE,
    CaptionOutcome,
    CaptionTask,
    ComposeOutcome,
    ComposeTask,
    DescribeOutcome,
    DescribeTask,
    GenerateTask,
    OutputFile,
    WorkOrder,
)

FAKE_CAPTION = "a photo of a cat"


def colour(seed: int) -> tuple[int, int, int]:
    return (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)


class FakeManager:
    """Stands in for `engine.diffusion.pipelines.PipelineManager.generate`."""

    def __init__(self, step_s: float = 0.0) -> None:
        self.step_s = step_s
        self.calls: list[GenerateRequest] = []
        self.cache_dir = None  # where the generate task caches file hashes (None: in memory only)

    def generate(
        self, request: GenerateRequest, spec: ModelSpec, on_progress=None, should_cancel=None
    ) -> GenerateResult:
        params = resolve(request, spec)
        self.calls.append(request)
        started = time.monotonic()
        # img2img and inpaint run int(steps × strength) of the steps, as diffusers does.
        total = params.steps if params.strength is None else max(1, int(params.steps * params.strength))
        for step in range(1, total + 1):
            if should_cancel is not None and should_cancel():
                raise Cancelled()
            if self.step_s:
                time.sleep(self.step_s)
            if on_progress is not None:
                on_progress(step, total)
        images = tuple(
            GeneratedImage(
                i, params.seed_for(i), Image.new("RGB", (params.width, params.height), colour(params.seed_for(i)))
            )
            for i in range(params.count)
        )
        return GenerateResult(params, images, time.monotonic() - started)


class FakeEmbedder:
    """Stands in for CLIP: each image shrunk to 4×4 RGB, flattened (cosine ignores an overall exposure change)."""

    name = "fake"

    def embed(self, images: Any) -> np.ndarray:
        shrunk = [image.convert("RGB").resize((4, 4), Image.Resampling.BOX) for image in images]
        return np.stack([np.asarray(s, dtype=np.float32).ravel() for s in shrunk])


class FakeCaptioner:
    def caption(self, image: Image.Image, detail: str = "short") -> str:
        return FAKE_CAPTION


class FakeEngineHost:
    """An `OrderRunner` for the services: fast, deterministic, torch-free."""

    def __init__(self, step_s: float = 0.0) -> None:
        self._manager = FakeManager(step_s)
        self.orders: list[WorkOrder] = []
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def manager(self) -> FakeManager:
        return self._manager

    def embedder(self, for_model: str | None = None) -> FakeEmbedder:
        return FakeEmbedder()

    def captioner(self, for_model: str | None = None) -> FakeCaptioner:
        return FakeCaptioner()

    def register_task(self, name: str, task: Any) -> None:
        self.tasks[name] = task

    def run(self, order: WorkOrder, ctx: WorkContext) -> Any:
        order = pickle.loads(pickle.dumps(order))  # what crosses the seam must be plain data
        with self._lock:
            self.orders.append(order)
        if order.task in self.tasks:
            return self.tasks[order.task](order, ctx, self)
        if order.task == "generate":
            return generate_task.run(order, ctx, self)  # type: ignore[arg-type]
        if order.task == "describe":
            assert isinstance(order.request, DescribeTask) and order.input(SOURCE) is not None
            return DescribeOutcome(tuple(f"{FAKE_CAPTION}, take {n}" for n in range(1, order.request.count + 1)))
        if order.task == "compose":
            return self._compose(order, ctx)
        if order.task == "check_set":
            return check_set_task.run(order, ctx, self)  # type: ignore[arg-type]
        if order.task == "sheet":
            return sheet_task.run(order, ctx, self)  # type: ignore[arg-type]
        if order.task == "caption":
            assert isinstance(order.request, CaptionTask)
            paths = order.request.paths
            return CaptionOutcome(paths, tuple(FAKE_CAPTION if p.is_file() else None for p in paths))
        raise ValueError(f"no engine task {order.task!r}")

    def _compose(self, order: WorkOrder, ctx: WorkContext) -> ComposeOutcome:
        task = order.request
        assert isinstance(task, ComposeTask)
        source, mask_path = order.input(SOURCE), order.input(MASK)
        assert source is not None
        out_dir = order.require_out_dir()
        inpaint = task.region is not None or mask_path is not None
        found = overlay = None
        if inpaint:
            with Image.open(source) as img:
                size = img.size
            if mask_path is None:
                if "nothing" in (task.region or ""):
                    raise InvalidRequest(f"Could not find '{task.region}' in the image: draw a mask instead.")
                mask = Image.new("L", size, 0)
                mask.paste(255, (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
                found = _png(mask, out_dir / "mask.png")
                mask_path = found.path
            overlay = _png(Image.new("RGB", size, (255, 0, 0)), out_dir / "mask_overlay.png")
        prompt = f"{FAKE_CAPTION}, {task.instruction}"
        full = with_trigger(prompt, task.trigger_word)
        strength = 0.6 if task.strength is None and not inpaint else task.strength
        request = replace(task.generate.request, prompt=full, strength=strength)
        images = generate_task.generate_images(
            self,  # type: ignore[arg-type]
            ctx,
            GenerateTask(request, task.generate.model),
            out_dir,
            source,
            mask_path,
        )
        return ComposeOutcome(images, prompt, full, "", FAKE_CAPTION, mask=found, overlay=overlay)


def _png(image: Image.Image, path: Path) -> OutputFile:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    sha, size = write_bytes(path, buffer.getvalue())
    return OutputFile(path, sha, size)
