"""`EngineHost`: what runs work orders where the GPU is. It owns the pipelines and the vision models.

A backend calls `host.run(order, ctx)` on its worker (the GPU thread today, a Ray actor later); the
host looks the order's task up by name and runs it. Everything is loaded on first use, on the worker,
so building a host is cheap and needs no torch. A host is made from an `EngineConfig` (plain data), so
a remote worker can build its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.base import WorkContext, WorkerInfo
from engine.work import WorkOrder

if TYPE_CHECKING:
    from engine.diffusion.pipelines import PipelineManager
    from engine.vision.captioner import Captioner
    from engine.vision.embedder import ImageEmbedder
    from engine.vision.masks import TextSegmenter
    from engine.vision.rewriter import LocalLMRewriter

log = logging.getLogger(__name__)

Task = Callable[[WorkOrder, WorkContext, "EngineHost"], Any]


@dataclass(frozen=True)
class EngineConfig:
    """How the engine is set up: the device and the vision models the settings name."""

    device: str = "auto"
    cache_dir: Path = Path("data/models")  # where base models are cached
    captioner: str = "blip-large"
    segmenter: str = "clipseg"
    rewriter: str = "none"
    embedder: str = "clip-vit-base-patch32"  # image embeddings for the training-set outlier check
    offline: bool = True  # never ask the hub for vision models
    optimize: str = "auto"  # engine.diffusion.optimize's level: off, auto, compile or max


class EngineHost:
    """Runs orders by task name; holds the pipeline manager and the vision models once loaded."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        manager_factory: Callable[[], PipelineManager] | None = None,
        tasks: Mapping[str, Task] | None = None,
    ) -> None:
        from engine.tasks import default_tasks

        self.config = config or EngineConfig()
        self._manager_factory = manager_factory
        self._manager: PipelineManager | None = None
        self._manager_lock = threading.Lock()
        self._vision: dict[str, Any] = {}
        self._vision_lock = threading.Lock()
        self._tasks: dict[str, Task] = dict(default_tasks() if tasks is None else tasks)
        # The base models held, as the owner thread saw them after its last order: other threads read this tuple,
        # never the pipeline cache itself, which only the owner thread may touch.
        self._held: tuple[str, ...] = ()

    def register_task(self, name: str, task: Task) -> None:
        """Run orders whose `task` is `name` with `task` (a new job kind brings its engine task)."""
        self._tasks[name] = task

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(self._tasks)

    def run(self, order: WorkOrder, ctx: WorkContext) -> Any:
        """Run one order to its outcome (blocking, on the worker)."""
        task = self._tasks.get(order.task)
        if task is None:
            raise ValueError(f"no engine task {order.task!r} (known: {', '.join(self._tasks)})")
        try:
            return task(order, ctx, self)
        finally:
            if self._manager is not None:  # on the owner thread: the one place the cache may be read
                self._held = tuple(reversed(getattr(self._manager, "loaded_models", ())))  # most recent first

    def manager(self) -> PipelineManager:
        """The pipeline manager, built on first use (on the worker: it loads torch)."""
        with self._manager_lock:
            if self._manager is None:
                if self._manager_factory is not None:
                    self._manager = self._manager_factory()
                else:
                    from engine.diffusion.device import choose_device, choose_dtype
                    from engine.diffusion.pipelines import PipelineManager

                    device = choose_device(self.config.device)
                    self._manager = PipelineManager(
                        device=device,
                        dtype=choose_dtype(device),
                        cache_dir=self.config.cache_dir,
                        optimize=self.config.optimize,
                    )
                    log.info("engine ready on %s", device)
            return self._manager

    def loaded_models(self) -> tuple[str, ...]:
        """The base models in memory after the last order, most recently used first (any thread)."""
        return self._held

    def worker_info(self, name: str) -> WorkerInfo:
        """This host's device as a worker named `name`: GPU, its total memory, precision, models held.

        Any thread, blocking: it imports torch and asks the GPU's properties (not its pipelines).
        """
        import torch

        from engine.diffusion.device import choose_device, choose_dtype

        with self._manager_lock:
            manager = self._manager
        # The loaded manager's own device and dtype when there is one (a test's manager may have neither).
        device = str(getattr(manager, "device", None) or choose_device(self.config.device))
        dtype = getattr(manager, "dtype", None) or choose_dtype(device)
        gpu_name = gpu_gb = None
        if device.startswith("cuda"):
            index = torch.device(device).index or 0
            props = torch.cuda.get_device_properties(index)
            gpu_name, gpu_gb = props.name, round(props.total_memory / 1e9, 1)
        precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")
        return WorkerInfo(name, device, gpu_name, gpu_gb, precision, self.loaded_models())

    def _vision_model(self, kind: str, name: str) -> Any:
        key = f"{kind}:{name}"  # a model's own captioner can sit beside the configured one
        with self._vision_lock:
            if key not in self._vision:
                from engine.diffusion.device import choose_device
                from engine.vision import catalog as vision_catalog

                load = {
                    "captioner": vision_catalog.load_captioner,
                    "segmenter": vision_catalog.load_segmenter,
                    "rewriter": vision_catalog.load_rewriter,
                    "embedder": vision_catalog.load_embedder,
                }[kind]
                device = str(choose_device(self.config.device))
                self._vision[key] = load(name, device=device, offline=self.config.offline)
            return self._vision[key]

    def captioner(self, for_model: str | None = None) -> Captioner:
        """The captioner the config names, loaded on first use; for a base model (preset id) that has its own
        captioner (`tiny-world`: its captions must be prompts it knows), that one."""
        from engine.vision.catalog import captioner_for

        return self._vision_model("captioner", captioner_for(for_model, self.config.captioner))

    def segmenter(self) -> TextSegmenter:
        """The text segmenter the config names, loaded on first use."""
        return self._vision_model("segmenter", self.config.segmenter)

    def rewriter(self) -> LocalLMRewriter | None:
        """The prompt rewriter the config names, loaded on first use; None for `none`."""
        from engine.vision.catalog import rewriter_enabled

        if not rewriter_enabled(self.config.rewriter):
            return None
        return self._vision_model("rewriter", self.config.rewriter)

    def embedder(self, for_model: str | None = None) -> ImageEmbedder:
        """The image embedder the config names, loaded on first use; for a base model (preset id) that has its own
        (`tiny-world`: CLIP knows nothing of its 32 px shapes), that one."""
        from engine.vision.catalog import embedder_for

        return self._vision_model("embedder", embedder_for(for_model, self.config.embedder))
