"""/train: plan a run from a checked set, start it as a job, follow it, cancel it, pick its best checkpoint.

One run at a time per server (the GPU is shared with everyone's images); runs of different servers wait
their turn on the batch lane. Who may train is a server setting: Manage Server, or a trainer role.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import shutil
from pathlib import Path

from engine import TrainPlan, WorkerInfo, with_trigger
from storage import Database
from storage.records import TrainingRun
from studio.contract import Caller, JobTicket
from studio.errors import NotFound, Refused, StudioError
from studio.jobs.queue import JobQueue
from studio.models.service import ModelService, ResolvedModel
from studio.names import kept_name
from studio.training import follow
from studio.training.api import AUTO, DOWNLOADS, PlanView, RunInfo, RunView, TooFewImages, TrainOverrides
from studio.training.kind import TrainRequest
from studio.training.pace import calibrate
from studio.training.plan_view import plan_view
from studio.training.plans import SizedFor, StoredPlan
from studio.training.registry import Registry
from studio.training.results import TrainingResult
from studio.training.sizing import WorkersQuery, plan_for, training_worker
from studio.trainsets.api import SetVerdict
from studio.trainsets.service import TrainsetService

log = logging.getLogger(__name__)


class TrainService:
    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        models: ModelService,
        trainsets: TrainsetService,
        registry: Registry,
        workers: WorkersQuery,
    ) -> None:
        self._db = db
        self._queue = queue
        self._models = models
        self._trainsets = trainsets
        self.registry = registry
        self._workers = workers  # the backend's `workers()`: what plans are sized for
        self._starting = asyncio.Lock()

    # -- who and where ---------------------------------------------------------------------------

    async def _may_train(self, caller: Caller) -> None:
        if caller.may_manage_server:
            return
        roles = (await self._db.guild_settings.get(caller.guild_id)).trainer_role_ids
        if set(caller.role_ids) & set(roles):
            return
        which = f" or one of these roles: {', '.join(f'<@&{r}>' for r in roles)}" if roles else ""
        raise Refused(f"Training a LoRA needs Manage Server{which}. Ask an admin (/settings trainer_role_ids).")

    async def _busy(self, guild_id: int | None, *, cli: bool = False) -> None:
        active = await self._db.training_runs.active_in(guild_id)
        if active and cli:  # another process running it owns the folder: this one is interrupted
            name = active[0].output_name
            raise Refused(
                f"The training '{name}' (run {active[0].id}) has not ended: `studio train --name {name} --resume` "
                f"goes on with it, `studio train cancel {name}` drops it."
            )
        if active:
            run = active[0]
            raise Refused(
                f"A training is already running or waiting in this server ('{run.output_name}', run {run.id}). "
                "Wait for it to end (/train status) or cancel it (/train cancel)."
            )

    async def _run(self, run_id: int, caller: Caller) -> TrainingRun:
        run = await self._db.training_runs.get(run_id)
        if run is None or (not caller.bypasses_server_policy and run.guild_id != (caller.guild_id or 0)):
            raise NotFound(f"There is no training run {run_id} here. /train list shows them.")
        return run

    @staticmethod
    def _may_manage(caller: Caller, run: TrainingRun, what: str) -> None:
        if caller.user_id == run.requester_id or caller.may_moderate:
            return
        raise Refused(f"Only the member who started this training, or a moderator, can {what}.")

    # -- planning and starting -------------------------------------------------------------------

    async def plan(
        self,
        caller: Caller,
        set_name: str | None,
        output_name: str,
        overrides: TrainOverrides = AUTO,
        *,
        base_model: str | None = None,
        force: bool = False,
    ) -> PlanView:
        """Check the set, size the run, store the plan; nothing runs until `start`. `force`: the machine's owner
        trains on fewer images than `min_training_images` (the plan says so); refused for that alone, TooFewImages."""
        await self._may_train(caller)
        await self._queue.admission.check_access(caller)
        found = await self._trainsets.target(caller, set_name)
        requested = kept_name(output_name, "model name")
        base = await self._base(base_model or found.base_model)
        await self._busy(caller.guild_id, cli=caller.origin == "cli")
        verdict = await self._trainsets.check(caller, found.name)
        if not verdict.ready and not _enough_for_the_owner(caller, verdict, force=force):
            few = _only_few(verdict)
            hint = " Or pass --force to train on fewer." if caller.origin == "cli" and few else ""
            message = f"Set '{found.name}' is not ready to train: {verdict.summary}{hint}"
            if few:  # the front doors offer `force` when the caller may use it
                forceable = _enough_for_the_owner(caller, verdict, force=True)
                raise TooFewImages(message, images=verdict.count, minimum=verdict.min_images, forceable=forceable)
            raise Refused(message)
        items = await self._db.training_sets.items(found.id)
        trigger = found.trigger_word or requested.replace("-", "")
        plan, worker = await self._sized(base, len(items), trigger, overrides)
        name = await self.registry.free_name(requested)
        lineage = {"set": found.name, "images": str(len(items))}
        lineage["pickers"] = ",".join(str(u) for u in sorted({i.added_by for i in items}))
        if name != requested:
            lineage["retrain_of"] = requested  # the earlier model of that name
        # The engine's guess of the compute, then the range this machine's measured runs make of it.
        estimate = await calibrate(self._db, base.spec.name, plan.estimate_s)
        stored = StoredPlan(
            config=plan.config,
            sources=dict(plan.sources),
            images=plan.images,
            samples=plan.samples,
            disk_bytes=plan.disk_bytes,
            memory_gb=plan.memory_gb,
            budget_gb=plan.budget_gb,
            guess_s=plan.estimate_s,
            estimate_s=estimate.middle_s,
            estimate_range=(estimate.low_s, estimate.high_s),
            estimate_basis=estimate.basis,
            lineage=lineage,
            requested_name=requested,
            model_name=name,
            worker=SizedFor.of(worker),
            below_minimum=verdict.min_images if verdict.count < verdict.min_images else None,  # forced: it says so
        )
        run = await self._db.training_runs.plan(
            guild_id=caller.guild_id,
            requester_id=caller.user_id,
            set_id=found.id,
            set_name=found.name,
            output_name=name,
            base_model=base.spec.name,
            trigger_word=trigger,
            plan=stored.to_json(),
        )
        log.info("training run %s planned by user=%s: %s on %s", run.id, caller.user_id, name, base.spec.name)
        return plan_view(run, verdict.summary, len(verdict.flagged))

    async def _base(self, name: str | None) -> ResolvedModel:
        base = await self._models.resolve(name)
        if base.loras:
            raise Refused(f"{base.chosen!r} is a LoRA: train on a base model, e.g. the one it uses ({base.spec.name}).")
        return base

    async def _sized(
        self, base: ResolvedModel, images: int, trigger: str, overrides: TrainOverrides
    ) -> tuple[TrainPlan, WorkerInfo]:
        """The run's settings sized to the worker that will run it (`sizing`), and that worker."""
        worker = await training_worker(self._workers)
        # The model's own sample prompts (a portrait on a real model, the world's grammar on tiny-world): the same
        # for every run on it, so that checkpoints and runs compare.
        prompts = tuple(p.replace("{trigger}", trigger) for p in base.spec.preset.training.sample_prompts)
        chosen = overrides.chosen()
        return plan_for(worker, base.spec.preset, images=images, overrides=chosen, sample_prompts=prompts), worker

    async def check_settings(
        self, caller: Caller, base_model: str | None, images: int, overrides: TrainOverrides = AUTO
    ) -> str:
        """Refuse what `plan` would refuse of the settings alone (a range, the GPU's memory, a LoRA as base, a run
        under way) before any image is copied or captioned; the base model's name."""
        await self._may_train(caller)
        base = await self._base(base_model)
        await self._busy(caller.guild_id, cli=caller.origin == "cli")
        await self._sized(base, max(1, images), "check", overrides)
        return base.spec.name

    async def start(self, caller: Caller, run_id: int) -> JobTicket:
        """Copy the set's images into the run's folder and queue the run (a second click is refused)."""
        async with self._starting:
            run = await self._run(run_id, caller)
            self._may_manage(caller, run, "start it")
            if run.status != "planned":
                raise Refused("This plan was already started or cancelled. /train status shows the runs.")
            await self._may_train(caller)
            await self._busy(run.guild_id or None)
            if run.set_id is None:
                raise Refused("The set of this plan was deleted; plan again with /train start.")
            items = await self._db.training_sets.items(run.set_id)
            if not items:
                raise Refused(f"Set '{run.set_name}' is empty now; add images and plan again.")
            folder = self.registry.run_dir(run.id) / "data"
            sources = [(item.path, with_trigger(item.caption or "", run.trigger_word)) for item in items]
            try:
                copied = await asyncio.to_thread(_copy_images, sources, folder)
            except OSError as exc:
                raise StudioError(f"The set's images could not be copied for training ({exc.strerror}).") from exc
            await self._db.training_runs.set_items(run.id, copied)  # before the job exists: its order reads them
            plan = StoredPlan.from_json(run.plan)
            request = TrainRequest(run.id, run.output_name, run.set_name, plan.config.steps, plan.estimate_s)
            ticket = await self._queue.submit(caller, "train", request)
            await self._db.training_runs.started(run.id, ticket.job_id)
        log.info("training run %s started as job %s", run.id, ticket.job_id)
        return ticket

    async def resume(self, caller: Caller, run_id: int) -> JobTicket:
        """Go on with an interrupted run from its last checkpoint: its job, which no process runs (a command line
        that ended left it queued), runs here, the same job on the same run folder, shown to the caller's door."""
        run = await self._run(run_id, caller)
        self._may_manage(caller, run, "resume it")
        info = await self._info(run)
        if run.job_id is None or info.status not in ("queued", "running"):
            raise Refused(f"Run {run.id} is {info.status}, not interrupted: only an unfinished run resumes.")
        ticket = await self._queue.adopt(caller, run.job_id)
        log.info("training run %s resumed as job %s (%s)", run.id, ticket.job_id, caller.origin)
        return ticket

    async def drop(self, caller: Caller, run_id: int) -> None:
        run = await self._run(run_id, caller)
        self._may_manage(caller, run, "cancel it")
        if not await self._db.training_runs.drop(run.id):
            raise Refused("This plan was already started; use /train cancel to stop the run.")

    # -- following runs ----------------------------------------------------------------------------

    async def cancel(self, caller: Caller, run_id: int | None = None) -> RunInfo:
        """Stop a run: it saves a checkpoint first (registrable from its result), or leaves the queue."""
        if run_id is None:
            active = await self._db.training_runs.active_in(caller.guild_id)
            if not active:
                raise NotFound("No training is running or waiting in this server.")
            run = active[0]
        else:
            run = await self._run(run_id, caller)
        self._may_manage(caller, run, "cancel it")
        if run.job_id is None or run.status != "started":
            raise Refused(f"Run {run.id} is not running (it is {run.status}).")
        await self._queue.cancel(caller, run.job_id)
        return await self._info(run)

    async def _info(self, run: TrainingRun) -> RunInfo:
        job = await self._db.jobs.get(run.job_id) if run.job_id else None
        status = run.status if run.status != "started" else (job.status if job else "failed")
        checkpoints = await self._db.training_runs.checkpoints(run.id)
        scores = [c.consistency for c in checkpoints if c.consistency is not None]
        return RunInfo(
            run_id=run.id,
            output_name=run.output_name,
            model_name=run.model_name,
            set_name=run.set_name,
            base_model=run.base_model,
            requester_id=run.requester_id,
            status=status,
            steps=StoredPlan.from_json(run.plan).config.steps,
            steps_done=run.result.get("steps_done"),
            chosen_step=run.chosen_step,
            best_consistency=max(scores) if scores else None,
            votes=sum(c.votes for c in checkpoints),
            error=job.error if job and job.status == "failed" else None,
            interrupted=job is not None and self._queue.left_waiting(job),
        )

    async def status(self, caller: Caller) -> list[RunInfo]:
        """This server's runs that are waiting or running."""
        return [await self._info(run) for run in await self._db.training_runs.active_in(caller.guild_id)]

    async def list(self, caller: Caller) -> builtins.list[RunInfo]:
        """This server's runs, newest first, with their scores and votes."""
        return [await self._info(run) for run in await self._db.training_runs.list(caller.guild_id)]

    # -- the result ----------------------------------------------------------------------------------

    async def result(self, caller: Caller, run_id: int) -> TrainingResult:
        run = await self._run(run_id, caller)
        if run.status not in ("done", "stopped"):
            raise Refused(f"Run {run.id} has not ended yet. /train status shows it.")
        return await self.registry.result(run.id)

    async def choose(self, caller: Caller, run_id: int, step: int) -> TrainingResult:
        """Register checkpoint `step` as the run's model (the first time), or switch the model's weights to it."""
        run = await self._run(run_id, caller)
        self._may_manage(caller, run, "choose its checkpoint")
        name = await self.registry.register(run.id, step, caller.origin)
        log.info("training run %s: %s now uses the checkpoint of step %s", run.id, name, step)
        return await self.registry.result(run.id)

    async def vote(self, message_id: int, user_id: int, *, up: bool) -> bool:
        """A 👍 added or removed on a checkpoint's grid; False when the message is not one."""
        checkpoint = await self._db.training_runs.checkpoint_for_message(message_id)
        if checkpoint is None:
            return False
        await self._db.training_runs.vote(checkpoint.id, user_id, up=up)
        return True

    async def download(self, caller: Caller, run_id: int, fmt: str = "kohya") -> Path:
        """The run's model file: kohya (what AUTOMATIC1111 and ComfyUI load) or diffusers (what the studio loads)."""
        if fmt not in DOWNLOADS:
            raise Refused(f"There is no {fmt!r} file: ask for one of {', '.join(DOWNLOADS)}.")
        result = await self.result(caller, run_id)
        path = result.kohya_path
        if fmt == "diffusers":
            path = self.registry.lora_files(result.model_name)[0] if result.model_name else None
        if path is None or not path.is_file():
            raise NotFound("This run's file is gone from the bot's disk, or it was never registered.")
        return path

    async def run(self, caller: Caller, run_id: int, tail: int = 50) -> RunView:
        run = await self._run(run_id, caller)
        return await follow.run_view(self._db, self.registry, run, await self._info(run), tail)

    async def picture(self, caller: Caller, run_id: int, which: str | int) -> Path:
        return await follow.picture(self.registry, await self._run(run_id, caller), which)


def _only_few(verdict: SetVerdict) -> bool:
    """Whether the count is all that keeps the set from training (no unreadable image, checks done)."""
    unreadable = any("could not be read" in note for flag in verdict.flagged for note in flag.notes)
    return 0 < verdict.count < verdict.min_images and not unreadable


def _enough_for_the_owner(caller: Caller, verdict: SetVerdict, *, force: bool) -> bool:
    """At the command line the machine's owner may train on fewer images than `min_training_images` asks, with
    --force (never on unreadable ones); a set still being checked is judged by its count."""
    unreadable = any("could not be read" in note for flag in verdict.flagged for note in flag.notes)
    enough = verdict.count >= verdict.min_images or force
    return caller.bypasses_server_policy and verdict.count > 0 and not unreadable and enough


def _copy_images(sources: list[tuple[Path, str]], folder: Path) -> list[tuple[str, str]]:
    """The set's images as the run's own files (the set may change while it trains): [(path, caption), ...]."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copied = []
    for number, (path, caption) in enumerate(sources, start=1):
        target = folder / f"{number:03d}{path.suffix.lower() or '.png'}"
        shutil.copyfile(path, target)
        copied.append((str(target.resolve()), caption))
    return copied
