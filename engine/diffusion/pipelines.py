"""The pipeline cache and the synchronous `generate` call that the GPU worker thread runs.

One base pipeline per base model, built once (LRU); img2img and inpaint pipelines come from
`from_pipe`, so the weights sit in memory once. Each request gets a fresh scheduler and fresh
generators, so nothing leaks from one job into the next.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.catalog import ModelSpec, resolve
from engine.diffusion.device import module_gb
from engine.diffusion.loading import load_base_pipeline, quiet_progress_bars
from engine.diffusion.lora import DEFAULT_LORA_BUDGET_BYTES, LoraCache
from engine.diffusion.optimize import Optimize, computes_in_fp8, optimize_level, optimize_pipeline, set_qkv_fused
from engine.diffusion.schedulers import make_scheduler
from engine.errors import Cancelled, OutOfMemory
from engine.families.registry import family_of
from engine.types import GeneratedImage, GenerateRequest, GenerateResult, Mode, ResolvedParams

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_device_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _as_dtype(dtype: Any, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        return getattr(torch, dtype)
    return dtype


@dataclass
class _Loaded:
    spec: ModelSpec
    base: Any
    loras: LoraCache
    variants: dict[str, Any] = field(default_factory=dict)
    qkv_fused: bool = False
    fusable: bool = False  # QKV projections may be fused while no LoRA runs (engine.diffusion.optimize)
    weights_gb: float = 0.0
    free_before_gb: float | None = None  # GPU memory free before the weights were loaded (None on the CPU)
    training: str | None = None  # the adapter a LoRA is training as on this UNet: kept loaded, never fused


class PipelineManager:
    """Owns the pipelines of one device. Not thread-safe by design: one worker thread calls it."""

    def __init__(
        self,
        device: str | torch.device = "cpu",
        dtype: Any = None,
        cache_dir: Path | str = "data/models",
        *,
        max_models: int = 1,
        lora_budget_bytes: int = DEFAULT_LORA_BUDGET_BYTES,
        optimize: bool | str = "off",
    ) -> None:
        quiet_progress_bars()
        self.device = torch.device(device)
        self.dtype = _as_dtype(dtype, self.device)
        self.cache_dir = Path(cache_dir)
        self.max_models = max(1, max_models)
        self.lora_budget_bytes = lora_budget_bytes
        self.optimize = optimize_level(optimize)
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        # Largest batch known to fit, per (model, mode, width, height), learnt from out-of-memory splits.
        self._batch_limit: dict[tuple[str, str, int, int], int] = {}
        # Guards against accidental concurrent use; the worker thread is the only intended caller.
        self._lock = threading.Lock()

    # 1. Pipelines ----------------------------------------------------------------------------------------------

    @property
    def loaded_models(self) -> tuple[str, ...]:
        """Names of the resident base models, least recently used first."""
        return tuple(self._loaded)

    def _entry(self, spec: ModelSpec, level: Optimize | None = None) -> _Loaded:
        entry = self._loaded.get(spec.name)
        if entry is not None and entry.spec.source == spec.source:
            self._loaded.move_to_end(spec.name)
            return entry
        if entry is not None:
            self.unload(spec.name)
        # A model that trains stays loaded (its weights are the run's); another may then exceed max_models.
        evictable = [name for name, e in self._loaded.items() if e.training is None]
        while evictable and len(self._loaded) >= self.max_models:
            self.unload(evictable.pop(0))
        started = time.monotonic()
        base = load_base_pipeline(spec, cache_dir=self.cache_dir, dtype=self.dtype)
        weights_gb = _weights_gb(base)
        free_gb = _free_gb(self.device)
        # Resident, offloaded, quantized or refused: the family's memory plan for a typical job (four images at the
        # default size), chosen before the weights move.
        placed = family_of(spec.family).place(
            base, spec.preset, weights_gb=weights_gb, free_gb=free_gb, device=str(self.device)
        )
        base.set_progress_bar_config(disable=True)
        entry = _Loaded(
            spec=spec,
            base=base,
            loras=LoraCache(base, spec.family, self.lora_budget_bytes),
            weights_gb=weights_gb,
            free_before_gb=free_gb,
        )
        entry.fusable = optimize_pipeline(
            base,
            spec.family,
            level or self.optimize,
            self.device,
            plain_weights=placed.plain_weights,
            compilable=placed.compilable,
        )
        entry.qkv_fused = entry.fusable
        self._loaded[spec.name] = entry
        log.info("Loaded model %s on %s in %.1f s", spec.name, self.device, time.monotonic() - started)
        return entry

    @staticmethod
    def _set_qkv_fused(entry: _Loaded, *, fused: bool) -> None:
        # Fused QKV bypasses the separate to_q/to_k/to_v layers that LoRAs patch: fuse only while no LoRA runs.
        if entry.qkv_fused == fused or not entry.fusable:
            return
        set_qkv_fused(entry.base, entry.spec.family, fused=fused)
        entry.qkv_fused = fused

    def pipeline(self, spec: ModelSpec, mode: Mode = "txt2img") -> Any:
        """The pipeline of `spec` for `mode`, sharing the base pipeline's modules."""
        entry = self._entry(spec)
        if mode == "txt2img" or mode == "instruct":  # a Kontext base pipeline takes the image and instruction
            return entry.base
        if mode not in entry.variants:
            variant = family_of(spec.family).pipeline_class(mode).from_pipe(entry.base)
            variant.set_progress_bar_config(disable=True)
            entry.variants[mode] = variant
        return entry.variants[mode]

    def training_pipeline(self, spec: ModelSpec, adapter: str | None) -> Any:
        """The base pipeline of `spec` for a LoRA training as `adapter` (None: the training ended).

        Shared with generation: the weights are loaded once. While it trains, the model stays loaded and
        its attention is not fused (a fused QKV would bypass the layers the LoRA patches).
        """
        loaded = self._loaded.get(spec.name)
        exact: Optimize | None = None
        if adapter is not None and self.optimize == "max":
            # Train on the exact weights: fp8-computed ones are rounded, and not every GPU runs their backward.
            exact = "compile"
            if loaded is not None and computes_in_fp8(loaded.base):
                self.unload(spec.name)
        entry = self._entry(spec, level=exact)
        entry.training = adapter
        if adapter is not None:
            self._set_qkv_fused(entry, fused=False)
        return entry.base

    def loras(self, spec: ModelSpec) -> LoraCache:
        return self._entry(spec).loras

    def unload(self, name: str) -> None:
        entry = self._loaded.pop(name, None)
        if entry is None:
            return
        entry.variants.clear()
        del entry
        _free_device_memory()
        log.info("Unloaded model %s", name)

    def unload_all(self) -> None:
        for name in list(self._loaded):
            self.unload(name)

    # 2. Generation ---------------------------------------------------------------------------------------------

    def generate(
        self,
        request: GenerateRequest,
        spec: ModelSpec,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> GenerateResult:
        """Run one job to the end (blocking); raises InvalidRequest, ModelUnavailable, Cancelled or OutOfMemory."""
        params = resolve(request, spec)
        with self._lock:
            started = time.monotonic()
            if should_cancel is not None and should_cancel():
                raise Cancelled("The job was cancelled.")
            entry = self._entry(spec)
            entry.loras.activate(request.loras)
            self._set_qkv_fused(entry, fused=not request.loras and entry.training is None)
            pipe = self.pipeline(spec, params.mode)
            family = family_of(spec.family)
            family.fit_request(
                entry.base,
                weights_gb=entry.weights_gb,
                free_gb=entry.free_before_gb,
                width=params.width,
                height=params.height,
                count=params.count,
                device=str(self.device),
            )
            pipe.scheduler = make_scheduler(params.scheduler, entry.base.scheduler.config)
            inputs = self._image_inputs(request, params) | family.call_options(spec.preset)
            with family.during_call(pipe, params.extras) as own:  # the family's own settings, for this run only
                images = self._run_split(pipe, params, inputs | own, 0, params.count, on_progress, should_cancel)
            elapsed = time.monotonic() - started
        log.info(
            "Generated %d image(s) with %s (%s, %dx%d, %d steps) in %.2f s",
            params.count,
            params.model,
            params.mode,
            params.width,
            params.height,
            params.steps,
            elapsed,
        )
        return GenerateResult(params=params, images=tuple(images), elapsed_s=elapsed)

    @staticmethod
    def _image_inputs(request: GenerateRequest, params: ResolvedParams) -> dict[str, Any]:
        if params.mode == "txt2img":
            return {}
        from PIL import Image

        size = (params.width, params.height)
        image = request.init_image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        if params.mode == "instruct":
            # The image edited first, then the other references, each at the edit's size.
            extra = [ref.convert("RGB").resize(size, Image.Resampling.LANCZOS) for ref in request.references]
            return family_of(params.family).edit_inputs([image, *extra], params.width, params.height)
        inputs: dict[str, Any] = {"image": image, "strength": params.strength}
        if params.mode == "inpaint":
            inputs["mask_image"] = request.mask_image.convert("L").resize(size, Image.Resampling.NEAREST)
        return inputs

    def _run_split(
        self,
        pipe: Any,
        params: ResolvedParams,
        inputs: dict[str, Any],
        start: int,
        count: int,
        on_progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
    ) -> list[GeneratedImage]:
        """Generate images start..start+count, in batches no larger than known to fit, halving on out-of-memory."""
        key = (params.model, params.mode, params.width, params.height)
        limit = self._batch_limit.get(key, count)
        if count > limit:
            first = max(1, limit)
            return self._run_split(pipe, params, inputs, start, first, on_progress, should_cancel) + self._run_split(
                pipe, params, inputs, start + first, count - first, on_progress, should_cancel
            )
        oom = False
        try:
            return self._run_batch(pipe, params, inputs, start, count, on_progress, should_cancel)
        except Exception as exc:
            if not is_oom(exc):
                raise
            oom = True
            log.warning("Out of memory with a batch of %d at %dx%d: %s", count, params.width, params.height, exc)
        # Retry outside the except block so the traceback (and the tensors it holds) is released first.
        if oom:
            _free_device_memory()
            if count == 1:
                raise OutOfMemory(
                    f"Not enough GPU memory for one {params.width}×{params.height} image with this model. "
                    "Try a smaller size, fewer LoRAs, or a lighter model."
                )
            self._batch_limit[key] = count // 2
        half = count // 2
        return self._run_split(pipe, params, inputs, start, half, on_progress, should_cancel) + self._run_split(
            pipe, params, inputs, start + half, count - half, on_progress, should_cancel
        )

    def _run_batch(
        self,
        pipe: Any,
        params: ResolvedParams,
        inputs: dict[str, Any],
        start: int,
        count: int,
        on_progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
    ) -> list[GeneratedImage]:
        if should_cancel is not None and should_cancel():
            raise Cancelled("The job was cancelled.")
        seeds = [params.seed_for(i) for i in range(start, start + count)]
        # CPU generators: the same seed gives the same image on every device and in any batch.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        cancelled = False
        if "mask_image" in inputs or ("image" in inputs and family_of(params.family).encodes_init_image_once):
            # The inpaint pipelines (and some families' image-to-image) encode a single image with generator 0 only and
            # repeat it: one copy per image makes each generator encode its own, so image i stays seed + i.
            inputs = inputs | {k: [inputs[k]] * count for k in ("image", "mask_image") if k in inputs}

        def on_step_end(p: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal cancelled
            if on_progress is not None:
                on_progress(step + 1, int(getattr(p, "num_timesteps", 0) or params.steps))
            if should_cancel is not None and should_cancel():
                cancelled = True
                p._interrupt = True  # diffusers skips the remaining steps of this call
            return callback_kwargs

        if family_of(params.family).takes_negative_prompt:  # a pipeline without guidance may not take the argument
            inputs = inputs | {"negative_prompt": params.negative or None}
        output = self._call_pipeline(
            pipe,
            prompt=params.prompt,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance,
            width=params.width,
            height=params.height,
            num_images_per_prompt=count,
            generator=generators,
            callback_on_step_end=on_step_end,
            output_type="pil",
            **inputs,
        )
        if cancelled:
            raise Cancelled("The job was cancelled.")
        return [
            GeneratedImage(index=start + i, seed=seed, image=image)
            for i, (seed, image) in enumerate(zip(seeds, output.images, strict=True))
        ]

    def _call_pipeline(self, pipe: Any, **kwargs: Any) -> Any:
        """The one place the pipeline runs (tests replace it to simulate failures)."""
        return pipe(**kwargs)


def _weights_gb(pipe: Any) -> float:
    """Size of every torch module of a pipeline, in GiB."""
    return sum(module_gb(component) for component in pipe.components.values())


def _free_gb(device: torch.device) -> float | None:
    """Free memory on a CUDA device in GiB; None elsewhere (no plan needed)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free / 2**30
