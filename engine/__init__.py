"""The engine's public face: the names the application core (`studio/`) may use, importable without torch.

The core imports the engine only from here (`from engine import WorkOrder`; tests/test_architecture.py holds it
to that). The seam (work orders and outcomes, requests, errors, the catalog, the host, the backends) loads at
once: it is plain data and no torch. The helpers from the groups load on first use, through `__getattr__`, so
`import engine` stays light and a name that needs torch (`export_checkpoint`, `memory_and_precision`) brings it
only when it is asked for. The engine's own modules import each other by full path, never through this face.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.backends import (
    LANES,
    BackendClosed,
    ExecutionBackend,
    JobHandle,
    Lane,
    NoFreeSlot,
    OrderRunner,
    ProcessBackend,
    ProgressEvent,
    ThreadBackend,
    WorkContext,
    WorkerInfo,
    WorkerLost,
)
from engine.catalog import (
    ASPECTS,
    COUNTS,
    DEFAULT_COUNT,
    DEFAULT_STRENGTH,
    FLOW_SCHEDULERS,
    LORA_SCALE_RANGE,
    MAX_LORAS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    PICKLE_SUFFIXES,
    SCHEDULERS,
    SUPPORTED_FAMILIES,
    ModelPreset,
    ModelSpec,
    TrainingPreset,
    all_presets,
    family_preset,
    get_preset,
    resolve,
)
from engine.errors import Cancelled, EngineError, InvalidRequest, ModelUnavailable, OutOfMemory, Stopped
from engine.families.base import Family
from engine.families.registry import FAMILIES, family_of
from engine.host import EngineConfig, EngineHost
from engine.params import ExtraSetting, GenerationParams, parse_extras
from engine.training.types import Checkpoint, TrainConfig, TrainItem, TrainOutcome, TrainTask
from engine.types import GeneratedImage, GenerateRequest, GenerateResult, LoraSpec, ResolvedParams
from engine.work import (
    MASK,
    SOURCE,
    CaptionOutcome,
    CaptionTask,
    CheckOutcome,
    CheckSetTask,
    ComposeOutcome,
    ComposeTask,
    DescribeOutcome,
    DescribeTask,
    ExportOutcome,
    ExportTask,
    GenerateTask,
    ImageFinding,
    ImagesOutcome,
    OutputFile,
    OutputImage,
    SheetOutcome,
    SheetTask,
    WorkOrder,
)

# Loaded on first use: name -> the module it lives in. "torch" marks the ones that import it.
_LAZY = {
    "RayBackend": "engine.backends.ray_backend",  # the optional Ray backend: ray itself loads when it starts
    "worker_statuses": "engine.backends.ray_backend",
    "TrainPlan": "engine.training.autoconfig",
    "plan_training": "engine.training.autoconfig",
    "export_checkpoint": "engine.training.export",  # torch
    "choose_device": "engine.diffusion.device",  # torch
    "memory_and_precision": "engine.diffusion.device",  # torch
    "hub_offline": "engine.diffusion.loading",
    "weights_present": "engine.diffusion.loading",
    "lora_family_of": "engine.families.lora_detect",
    "wrong_family_message": "engine.families.lora_detect",
    "smallest_gpu_for": "engine.families.flux.memory_plan",
    "ImageRejected": "engine.images.input",
    "load_image": "engine.images.input",
    "MAX_UPLOAD_PIXELS": "engine.images.uploads",
    "Upload": "engine.images.uploads",
    "model_size": "engine.images.uploads",
    "store_mask": "engine.images.uploads",
    "store_upload": "engine.images.uploads",
    "contact_sheet": "engine.images.contact_sheet",
    "clean_caption": "engine.prompting.text",
    "with_trigger": "engine.prompting.text",
    "VisionPreset": "engine.vision.catalog",
    "resolve_vision": "engine.vision.catalog",
    "vision_presets": "engine.vision.catalog",
}

if TYPE_CHECKING:  # what the lazy names are, for the type checker
    from engine.backends.ray_backend import RayBackend, worker_statuses
    from engine.diffusion.device import choose_device, memory_and_precision
    from engine.diffusion.loading import hub_offline, weights_present
    from engine.families.flux.memory_plan import smallest_gpu_for
    from engine.families.lora_detect import lora_family_of, wrong_family_message
    from engine.images.contact_sheet import contact_sheet
    from engine.images.input import ImageRejected, load_image
    from engine.images.uploads import MAX_UPLOAD_PIXELS, Upload, model_size, store_mask, store_upload
    from engine.prompting.text import clean_caption, with_trigger
    from engine.training.autoconfig import TrainPlan, plan_training
    from engine.training.export import export_checkpoint
    from engine.vision.catalog import VisionPreset, resolve_vision, vision_presets


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}: the face is engine/__init__.py's __all__")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ASPECTS",
    "COUNTS",
    "DEFAULT_COUNT",
    "DEFAULT_STRENGTH",
    "FAMILIES",
    "FLOW_SCHEDULERS",
    "LANES",
    "LORA_SCALE_RANGE",
    "MASK",
    "MAX_LORAS",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "MAX_UPLOAD_PIXELS",
    "PICKLE_SUFFIXES",
    "SCHEDULERS",
    "SOURCE",
    "SUPPORTED_FAMILIES",
    "BackendClosed",
    "Cancelled",
    "CaptionOutcome",
    "CaptionTask",
    "CheckOutcome",
    "CheckSetTask",
    "Checkpoint",
    "ComposeOutcome",
    "ComposeTask",
    "DescribeOutcome",
    "DescribeTask",
    "EngineConfig",
    "EngineError",
    "EngineHost",
    "ExecutionBackend",
    "ExportOutcome",
    "ExportTask",
    "ExtraSetting",
    "Family",
    "GenerateRequest",
    "GenerateResult",
    "GenerateTask",
    "GeneratedImage",
    "GenerationParams",
    "ImageFinding",
    "ImageRejected",
    "ImagesOutcome",
    "InvalidRequest",
    "JobHandle",
    "Lane",
    "LoraSpec",
    "ModelPreset",
    "ModelSpec",
    "ModelUnavailable",
    "NoFreeSlot",
    "OrderRunner",
    "OutOfMemory",
    "OutputFile",
    "OutputImage",
    "ProcessBackend",
    "ProgressEvent",
    "RayBackend",
    "ResolvedParams",
    "SheetOutcome",
    "SheetTask",
    "Stopped",
    "ThreadBackend",
    "TrainConfig",
    "TrainItem",
    "TrainOutcome",
    "TrainPlan",
    "TrainTask",
    "TrainingPreset",
    "Upload",
    "VisionPreset",
    "WorkContext",
    "WorkOrder",
    "WorkerInfo",
    "WorkerLost",
    "all_presets",
    "choose_device",
    "clean_caption",
    "contact_sheet",
    "export_checkpoint",
    "family_of",
    "family_preset",
    "get_preset",
    "hub_offline",
    "load_image",
    "lora_family_of",
    "memory_and_precision",
    "model_size",
    "parse_extras",
    "plan_training",
    "resolve",
    "resolve_vision",
    "smallest_gpu_for",
    "store_mask",
    "store_upload",
    "vision_presets",
    "weights_present",
    "with_trigger",
    "worker_statuses",
    "wrong_family_message",
]
