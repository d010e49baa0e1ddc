"""The engine as the services see it: work functions that run on the GPU thread and write files."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.catalog import ModelSpec
from engine.types import GenerateRequest, ResolvedParams
from engine.worker import ExecutionBackend, ThreadBackend, WorkContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedImage:
    index: int
    seed: int
    path: Path
    sha256: str
    size_bytes: int
    width: int
    height: int


@dataclass(frozen=True)
class GenerationOutput:
    """What a generation job left on disk, with the parameters that made it."""

    params: ResolvedParams
    images: tuple[SavedImage, ...]
    grid_path: Path | None
    elapsed_s: float


@dataclass(frozen=True)
class ImageInputs:
    """Files a job reads on the worker thread (PIL work stays off the event loop)."""

    init_image: Path | None = None
    mask_image: Path | None = None


class EngineRuntime:
    """Owns the execution backend and, on its thread, the pipeline manager."""

    def __init__(
        self,
        device: str = "auto",
        cache_dir: Path | None = None,
        backend: ExecutionBackend | None = None,
        manager_factory: Callable[[], object] | None = None,
        *,
        captioner: str = "blip-large",
        segmenter: str = "clipseg",
        rewriter: str = "none",
        offline: bool = True,
    ) -> None:
        self.backend: ExecutionBackend = backend or ThreadBackend(slots=1)
        self._device_setting = device
        self._cache_dir = cache_dir
        self._manager_factory = manager_factory
        self._manager: object | None = None
        self._manager_lock = threading.Lock()
        self.captioner_name = captioner
        self.segmenter_name = segmenter
        self.rewriter_name = rewriter
        self._offline = offline
        self._vision: dict[str, object] = {}
        self._vision_lock = threading.Lock()

    def manager(self):
        """The pipeline manager, built on first use (on the worker thread: it loads torch)."""
        with self._manager_lock:
            if self._manager is None:
                if self._manager_factory is not None:
                    self._manager = self._manager_factory()
                else:
                    from engine.device import choose_device, choose_dtype
                    from engine.pipelines import PipelineManager

                    device = choose_device(self._device_setting)
                    self._manager = PipelineManager(
                        device=device, dtype=choose_dtype(device), cache_dir=self._cache_dir
                    )
                    log.info("engine ready on %s", device)
            return self._manager

    def _vision_model(self, kind: str, name: str) -> object:
        with self._vision_lock:
            if kind not in self._vision:
                from engine import vision_catalog
                from engine.device import choose_device

                load = {
                    "captioner": vision_catalog.load_captioner,
                    "segmenter": vision_catalog.load_segmenter,
                    "rewriter": vision_catalog.load_rewriter,
                }[kind]
                self._vision[kind] = load(name, device=str(choose_device(self._device_setting)), offline=self._offline)
            return self._vision[kind]

    def captioner(self):
        """The captioner the settings name, loaded on first use (on the worker thread)."""
        return self._vision_model("captioner", self.captioner_name)

    def segmenter(self):
        """The text segmenter the settings name, loaded on first use (on the worker thread)."""
        return self._vision_model("segmenter", self.segmenter_name)

    def rewriter(self):
        """The prompt rewriter the settings name, loaded on first use (on the worker thread); None for `none`."""
        from engine.vision_catalog import rewriter_enabled

        if not rewriter_enabled(self.rewriter_name):
            return None
        return self._vision_model("rewriter", self.rewriter_name)

    def generation_work(
        self, request: GenerateRequest, spec: ModelSpec, out_dir: Path, inputs: ImageInputs = ImageInputs()
    ) -> Callable[[WorkContext], GenerationOutput]:
        """A work function for the backend: generate, then write PNGs with their parameters and a grid."""

        def work(ctx: WorkContext) -> GenerationOutput:
            from PIL import Image

            from engine.output import a1111_parameters, encode_for_upload, make_grid, save_png

            req = request
            if inputs.init_image is not None:
                with Image.open(inputs.init_image) as img:
                    req = replace(req, init_image=img.convert("RGB"))
            if inputs.mask_image is not None:
                with Image.open(inputs.mask_image) as img:
                    req = replace(req, mask_image=img.convert("L"))
            result = self.manager().generate(req, spec, on_progress=ctx.report, should_cancel=ctx.cancelled)
            p = result.params
            out_dir.mkdir(parents=True, exist_ok=True)
            saved = []
            for generated in result.images:
                text = a1111_parameters(
                    prompt=p.prompt,
                    negative_prompt=p.negative_prompt,
                    steps=p.steps,
                    sampler=p.scheduler,
                    cfg_scale=p.guidance,
                    seed=generated.seed,
                    width=p.width,
                    height=p.height,
                    model=p.model,
                    loras=p.loras,
                    extra={"Denoising strength": p.strength} if p.strength is not None else None,
                )
                path = out_dir / f"{generated.index}.png"
                sha, size = save_png(generated.image, path, text)
                width, height = generated.image.size
                saved.append(SavedImage(generated.index, generated.seed, path, sha, size, width, height))
            grid_path = None
            if len(result.images) > 1:
                data, ext = encode_for_upload(make_grid([g.image for g in result.images]))
                grid_path = out_dir / f"grid.{ext}"
                grid_path.write_bytes(data)
            return GenerationOutput(p, tuple(saved), grid_path, result.elapsed_s)

        return work

    async def shutdown(self) -> None:
        await self.backend.shutdown()
