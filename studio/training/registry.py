"""A run's files and its model: checkpoints stored, the chosen one exported and registered under a free name.

A trained model's weights live at `loras/<name>.safetensors` (diffusers layout, what the studio loads) with
`loras/<name>_kohya.safetensors` beside it (what AUTOMATIC1111 and ComfyUI load). Switching to another
checkpoint rewrites both: the LoRA cache notices the new file by its size and time.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from engine import TrainOutcome
from storage import Database
from storage.records import Job, TrainingRun
from studio.contract import Caller, Origin
from studio.errors import Refused, StudioError
from studio.jobs.queue import GENERIC_FAILURE, JobQueue
from studio.models.service import ModelService
from studio.names import kept_name, name_key, path_slug
from studio.training.export_kind import ExportRequest
from studio.training.results import CheckpointInfo, CheckpointPost, TrainingResult

MAX_VERSIONS = 99
EXPORT_WAIT_S = 300.0  # an export is seconds of work; it may wait for a training's next step to run


class Registry:
    def __init__(
        self, db: Database, models: ModelService, queue: JobQueue, training_dir: Path, loras_dir: Path
    ) -> None:
        self._db = db
        self._models = models
        self._queue = queue  # exports run on the engine, as jobs of the `export` kind
        self._training_dir = training_dir
        self._loras_dir = loras_dir
        self._lock = asyncio.Lock()  # two runs ending together must not take the same name

    def run_dir(self, run_id: int) -> Path:
        return self._training_dir / f"run-{run_id}"

    def lora_files(self, model_name: str) -> tuple[Path, Path]:
        """The model's two files, named by its path slug (the typed name may hold any character)."""
        slug = path_slug(model_name)
        return self._loras_dir / f"{slug}.safetensors", self._loras_dir / f"{slug}_kohya.safetensors"

    async def free_name(self, wanted: str) -> str:
        """`wanted` as typed, or `wanted-v2`, `-v3` … when a LoRA has the name (in any case).

        The name of a base model (a preset or an installed one) is refused: the LoRA would hide behind it.
        """
        wanted = kept_name(wanted, "model name")
        records = await self._db.models.list(kind=None, category=None, active_only=False)
        bases = {p.name for p in await self._models.catalog() if p.kind == "base"}
        bases |= {r.name for r in records if r.kind == "base"}
        if _taken(wanted, bases):
            raise Refused(f"{wanted!r} is the name of a base model: pick another name for the LoRA.")
        taken = {r.name for r in records}
        if not _taken(wanted, taken):
            return wanted
        for version in range(2, MAX_VERSIONS + 1):
            name = f"{wanted}-v{version}"
            if not _taken(name, taken):
                return name
        raise Refused(f"Every name from {wanted} to {wanted}-v{MAX_VERSIONS} is taken; pick another name.")

    # -- the end of a run ------------------------------------------------------------------------

    async def conclude(
        self, run: TrainingRun, job: Job, outcome: TrainOutcome
    ) -> tuple[TrainingResult, list[CheckpointPost]]:
        """Store the checkpoints, register the model unless the run was stopped, and say what to show."""
        await self._db.training_runs.set_checkpoints(
            run.id,
            [
                {
                    "step": c.step,
                    "lora_path": c.lora.path,
                    "samples_path": c.samples.path if c.samples else None,
                    "loss": c.loss,
                    "consistency": c.consistency,
                    "likeness": c.likeness,
                }
                for c in outcome.checkpoints
            ],
        )
        files = {
            "diffusers": str(outcome.lora.path),
            "kohya": str(outcome.kohya.path),
            "loss_plot": str(outcome.loss_plot.path) if outcome.loss_plot else None,
            "scales": str(outcome.scales.path) if outcome.scales else None,
        }
        result = {
            "steps_done": outcome.steps_done,
            "total_steps": outcome.total_steps,
            "elapsed_s": outcome.elapsed_s,
            "resumed_at": outcome.resumed_at,
            "final_loss": outcome.losses[-1] if outcome.losses else None,
            "files": files,
        }
        # A run concluded again (a crash after this, before the job was marked done) keeps its model and name.
        await self._db.training_runs.finish(
            run.id, stopped=outcome.stopped, result=result, model_name=run.model_name, chosen_step=run.chosen_step
        )
        if not outcome.stopped:
            await self.register(run.id, outcome.steps_done, job.origin)
        # The copied images were only needed to train or resume: a member's deleted data must not outlive here.
        await asyncio.to_thread(shutil.rmtree, self.run_dir(run.id) / "data", True)
        await self._db.training_runs.forget_items(run.id)
        shown = await self.result(run.id, job.id)
        posts = [
            CheckpointPost(run.id, run.output_name, n, len(shown.checkpoints), c)
            for n, c in enumerate(shown.checkpoints, start=1)
            if c.samples_path is not None
        ]
        return shown, posts

    async def result(self, run_id: int, job_id: int | None = None) -> TrainingResult:
        run = await self._run(run_id)
        stored: dict[str, Any] = run.result
        files = stored.get("files", {})
        checkpoints = await self._db.training_runs.checkpoints(run.id)
        infos = tuple(
            CheckpointInfo(
                c.id, c.step, c.loss, c.consistency, c.likeness, c.votes, c.samples_path, c.step == run.chosen_step
            )
            for c in checkpoints
        )
        return TrainingResult(
            run_id=run.id,
            job_id=job_id or run.job_id or 0,
            requester_id=run.requester_id,
            output_name=run.output_name,
            model_name=run.model_name,
            base_model=run.base_model,
            trigger_word=run.trigger_word,
            stopped=run.status == "stopped",
            steps_done=int(stored.get("steps_done", 0)),
            total_steps=int(stored.get("total_steps", 0)),
            elapsed_s=float(stored.get("elapsed_s", 0.0)),
            resumed_at=stored.get("resumed_at"),
            final_loss=stored.get("final_loss"),
            checkpoints=infos,
            scales_path=Path(files["scales"]) if files.get("scales") else None,
            loss_plot_path=Path(files["loss_plot"]) if files.get("loss_plot") else None,
            kohya_path=self.lora_files(run.model_name)[1] if run.model_name else _path(files.get("kohya")),
        )

    async def _run(self, run_id: int) -> TrainingRun:
        run = await self._db.training_runs.get(run_id)
        if run is None:
            raise StudioError("This training run no longer exists.")
        return run

    # -- registration ----------------------------------------------------------------------------

    async def register(self, run_id: int, step: int, origin: Origin = "interaction") -> str:
        """Make checkpoint `step` the run's model: registered at its first use, its weights replaced after.

        The engine writes the files (an `export` job, on behalf of the run's requester, asked from `origin`).
        """
        async with self._lock:
            run = await self._run(run_id)
            checkpoints = {c.step: c for c in await self._db.training_runs.checkpoints(run.id)}
            if step not in checkpoints:
                raise Refused(f"This run has no checkpoint at step {step}.")
            if run.status not in ("done", "stopped"):
                raise Refused("This run has not ended yet.")
            name = run.model_name or await self.free_name(run.output_name)
            family = (await self._models.resolve(run.base_model)).spec.family
            request = ExportRequest(
                run.id,
                step,
                str(checkpoints[step].lora_path),
                str(run.result["files"]["diffusers"]),
                str(self.run_dir(run.id) / f"export-{step}"),
                run.output_name,
                family,
            )
            diffusers_file, kohya_file = await self._export(run, request, origin)
            target, target_kohya = self.lora_files(name)
            await asyncio.to_thread(_install, diffusers_file, target)
            await asyncio.to_thread(_install, kohya_file, target_kohya)
            chosen = checkpoints[step]
            model_config = {
                "run_id": run.id,
                "step": step,
                "consistency": chosen.consistency,
                "likeness": chosen.likeness,
                "description": f"LoRA trained here on set '{run.set_name}', checkpoint of step {step}",
            }
            if run.model_name is None:
                await self._db.models.add(
                    name=path_slug(name),
                    key=name,
                    display_name=name,
                    kind="lora",
                    family=family,
                    source=str(target.resolve()),
                    base_model=run.base_model,
                    trigger_word=run.trigger_word,
                    config=model_config,
                    created_by=run.requester_id,
                )
            else:
                await self._db.models.set_config(path_slug(name), model_config)
            await self._db.training_runs.registered(run.id, name, step)
            return name

    async def _export(self, run: TrainingRun, request: ExportRequest, origin: Origin) -> tuple[Path, Path]:
        """The two files of the checkpoint, written by the engine; StudioError says why not."""
        # The studio's own bookkeeping for the run's requester: no server's role list may stop it half-way.
        # A member whose data was deleted leaves no requester: the job is then the machine's (user 0, as the CLI's).
        owner = run.requester_id if run.requester_id is not None else 0
        caller = Caller(owner, run.guild_id or None, bypasses_server_policy=True, origin=origin)
        ticket = await self._queue.submit(caller, "export", request)
        try:
            done = await self._queue.wait(ticket.job_id, limit_s=EXPORT_WAIT_S)
        except TimeoutError:
            raise StudioError(
                f"Exporting the checkpoint of step {request.step} is taking longer than {EXPORT_WAIT_S:.0f} s; "
                "pick it again in a moment."
            ) from None
        if done.status != "done" or not done.result:
            raise StudioError(done.error or GENERIC_FAILURE)
        return Path(done.result["diffusers"]), Path(done.result["kohya"])


def _taken(name: str, stored: set[str]) -> bool:
    """Whether `name` is one of the stored names (slugs): the same file, or the same name in another case."""
    return path_slug(name) in stored or name_key(name) in {name_key(n) for n in stored}


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _install(source: Path, target: Path) -> None:
    """Copy beside the target, then rename over it: a generation never reads a half-written LoRA."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
