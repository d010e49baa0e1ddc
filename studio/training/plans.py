"""A run's plan as stored in `training_runs.plan` (JSON): the config, where each value came from, what the run should
take and the worker it was sized for. This is the one module that reads the stored plan by key.

v1 also held the run's images (`items`); since v2 they are rows of `training_run_items` (migration 0010 moved
them), so a v1 row's `items` is ignored. The keys v1 added over time (`guess_s`, `estimate_range`, `worker`, ...)
read as the plan showed them before they existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from engine import TrainConfig, WorkerInfo
from studio.errors import StudioError
from studio.jobs.kind import check_version

_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
_TUPLES = ("sample_prompts", "prior_prompts")  # tuples in TrainConfig, lists in JSON


@dataclass(frozen=True)
class SizedFor:
    """The worker a plan was sized to, as the plan shows it."""

    name: str
    device: str
    gpu: str | None
    gpu_memory_gb: float | None
    precision: str

    @classmethod
    def of(cls, worker: WorkerInfo) -> Self:
        return cls(worker.name, worker.device, worker.gpu_name, worker.gpu_memory_gb, worker.precision)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        memory = data.get("gpu_memory_gb")
        return cls(
            str(data["name"]),
            str(data["device"]),
            data.get("gpu"),
            None if memory is None else float(memory),
            str(data.get("precision", "")),
        )


@dataclass(frozen=True)
class StoredPlan:
    """What `TrainService.plan` decided; nothing of it changes once the run is planned."""

    VERSION: ClassVar[int] = 2

    config: TrainConfig
    sources: Mapping[str, str]  # config field → where its value came from (a key of api.SOURCE_LABELS)
    images: int
    samples: int  # images seen in all: steps × batch × accumulation
    disk_bytes: int
    memory_gb: float | None  # the estimated GPU peak; None on a CPU
    budget_gb: float | None  # what the GPU has for it
    guess_s: float  # the engine's guess of the compute (what `pace` calibrates)
    estimate_s: float  # the calibrated middle of `estimate_range`
    estimate_range: tuple[float, float]  # seconds, low and high
    estimate_basis: str = ""  # "from the last run's pace", or "a first guess: ..."
    lineage: Mapping[str, str] = field(default_factory=dict)  # the model file's metadata: set, images, pickers
    requested_name: str | None = None  # the name asked for (the run's output_name may be name-v2)
    model_name: str | None = None  # the name the model registers under
    worker: SizedFor | None = None  # None in plans made before workers were asked
    below_minimum: int | None = None  # the set's minimum, when the owner forced a run on fewer images

    def source_of(self, name: str, default: str = "preset") -> str:
        """Where the config's `name` came from."""
        return self.sources.get(name, default)

    def to_json(self) -> dict[str, Any]:
        config = dataclasses.asdict(self.config)
        for name in _TUPLES:
            config[name] = list(config[name])
        data: dict[str, Any] = {
            "v": self.VERSION,
            "config": config,
            "sources": dict(self.sources),
            "images": self.images,
            "samples": self.samples,
            "estimate_s": self.estimate_s,
            "disk_bytes": self.disk_bytes,
            "memory_gb": self.memory_gb,
            "budget_gb": self.budget_gb,
            "lineage": dict(self.lineage),
            "requested_name": self.requested_name,
            "model_name": self.model_name,
            "worker": None if self.worker is None else self.worker.to_json(),
            "guess_s": self.guess_s,
            "estimate_basis": self.estimate_basis,
            "estimate_range": list(self.estimate_range),
        }
        if self.below_minimum is not None:
            data["below_minimum"] = self.below_minimum
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Also reads v1 plans (their images aside, moved to `training_run_items`)."""
        check_version(data, cls.VERSION, "training plan")
        try:
            estimate = float(data["estimate_s"])
            low, high = data.get("estimate_range") or (estimate, estimate)
            worker, below = data.get("worker"), data.get("below_minimum")
            return cls(
                config=_config(data["config"]),
                sources={str(k): str(v) for k, v in data["sources"].items()},
                images=int(data["images"]),
                samples=int(data["samples"]),
                disk_bytes=int(data["disk_bytes"]),
                memory_gb=_maybe_float(data.get("memory_gb")),
                budget_gb=_maybe_float(data.get("budget_gb")),
                guess_s=float(data.get("guess_s", estimate)),
                estimate_s=estimate,
                estimate_range=(float(low), float(high)),
                estimate_basis=str(data.get("estimate_basis", "")),
                lineage={str(k): str(v) for k, v in (data.get("lineage") or {}).items()},
                requested_name=data.get("requested_name"),
                model_name=data.get("model_name"),
                worker=SizedFor.from_json(worker) if worker else None,
                below_minimum=None if below is None else int(below),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StudioError("This training's stored plan is incomplete; plan it again with /train start.") from exc


def _config(data: Mapping[str, Any]) -> TrainConfig:
    """The stored config; a key no TrainConfig field has any more is left out."""
    values = {k: v for k, v in data.items() if k in _CONFIG_FIELDS}
    for name in _TUPLES:
        values[name] = tuple(values.get(name, ()))
    return TrainConfig(**values)


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)
