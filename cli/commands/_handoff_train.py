"""`studio train` handed to the data folder's owner when it serves the web: the folder's images go into the set
through the training-set API (their `.txt` captions as a member's), the run is planned and started through the
training API, its steps and loss follow in the terminal, and the result is read from the shared data folder.
`--resume` finds the interrupted run in the shared folder and has the owner go on with it from its checkpoint.

Ctrl+C stops the run through the API: the owner keeps the checkpoints it wrote (the run's page registers one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from cli.commands._handoff import Body, HandOff, follow_handed_off, owner_or_refusal
from cli.commands._local import with_services
from cli.commands._support import LOCAL, Interrupted
from studio.errors import StudioError
from studio.names import same_name
from studio.owner import FolderInUse
from studio.training.api import TrainOverrides
from studio.training.folder import FolderImage, read_folder
from studio.training.interrupted import InterruptedRun, find_interrupted
from studio.training.pace import estimate_range
from studio.training.results import TrainingResult

if TYPE_CHECKING:
    from studio.container import Services
    from studio.settings import Settings


@dataclass(frozen=True)
class TrainRequest:
    """What `studio train` was asked: the folder, the names, and the settings the plan takes (None: the preset's)."""

    images: Path | None
    name: str
    base_model: str | None
    trigger: str | None
    force: bool
    resume: bool
    settings: TrainOverrides


async def hand_off_training(
    settings: Settings,
    refused: FolderInUse,
    asked: TrainRequest,
    result_lines: Callable[[TrainingResult, Services], list[str]],
) -> None:
    """Train through the owner's API and print what the local path prints; the refusal when no web is served."""
    owner = owner_or_refusal(settings, refused)
    client = HandOff(owner)
    if asked.resume:
        run_id, ticket = await _resume(settings, client, asked.name)
    else:
        assert asked.images is not None  # the command asks for --images without --resume
        found = await asyncio.to_thread(read_folder, asked.images, settings.max_attachment_bytes)
        set_name = await _fill_set(client, asked, found)
        body = Body(json=_plan_body(asked, set_name))
        planned = await asyncio.to_thread(client.call, "POST", "/api/training", body)
        for line in _plan_lines(planned):
            click.echo(line)
        run_id = int(planned["run_id"])
        ticket = await asyncio.to_thread(client.call, "POST", f"/api/training/{run_id}/start")
    click.echo(f"job {ticket['job_id']}: training in the studio at {owner.url} (run {run_id})")
    try:
        await follow_handed_off(client, int(ticket["job_id"]), f"/api/training/{run_id}/cancel")
    except Interrupted:
        raise Interrupted(await _kept(client, run_id)) from None

    async def read(services: Services, _delivery: object) -> list[str]:
        return result_lines(await services.training.result(LOCAL, run_id), services)

    for line in await with_services(settings, read, start=False):
        click.echo(line)


async def _resume(settings: Settings, client: HandOff, name: str) -> tuple[int, dict[str, Any]]:
    """The interrupted run of `name` (read from the shared data folder, as the local path finds it) resumed by the
    owner through the API; its run id and the job's ticket."""

    async def find(services: Services, _delivery: object) -> InterruptedRun:
        return await find_interrupted(services, name)

    run: InterruptedRun = await with_services(settings, find, start=False)
    click.echo(f"resuming run {run.run_id} ({run.output_name})")
    ticket = await asyncio.to_thread(client.call, "POST", f"/api/training/{run.run_id}/resume")
    return run.run_id, ticket


async def _fill_set(client: HandOff, asked: TrainRequest, found: list[FolderImage]) -> str:
    """The set named as the model, created if new, with the folder's images; its name as the studio spells it."""
    sets = await asyncio.to_thread(client.call, "GET", "/api/trainsets")
    known = next((s["name"] for s in sets if same_name(s["name"], asked.name)), None)
    if known is None:
        new = {"name": asked.name, "trigger_word": asked.trigger or asked.name, "base_model": asked.base_model}
        known = (await asyncio.to_thread(client.call, "POST", "/api/trainsets", Body(json=new)))["name"]
    path = f"/api/trainsets/{quote(str(known), safe='')}"
    added = 0
    for image in found:  # one a request: the owner checks each as an upload
        answer = await asyncio.to_thread(
            client.call, "POST", f"{path}/items", Body(files={"files": (image.path, image.data)})
        )
        for item in answer["added"]:
            added += 1
            if image.caption:  # a member's caption: the captioner never overwrites it
                caption = Body(json={"caption": image.caption})
                await asyncio.to_thread(client.call, "PATCH", f"{path}/items/{item['number']}", caption)
    click.echo(f"set '{known}': {added} new image(s) of {len(found)}")
    return str(known)


def _plan_body(asked: TrainRequest, set_name: str) -> dict[str, Any]:
    chosen = {key: value for key, value in asdict(asked.settings).items() if value is not None}
    return {"set_name": set_name, "name": asked.name, "base_model": asked.base_model, "force": asked.force} | chosen


def _plan_lines(out: dict[str, Any]) -> list[str]:
    """The plan as the local path prints it, from the API's answer (web.schemas_training.PlanOut)."""
    lines = [
        f"plan: {out['model_name']} on {out['base_model']}, {out['images']} image(s), trigger '{out['trigger_word']}'"
    ]
    lines += [f"  {row['label']}: {row['value']} ({row['source']})" for row in out["rows"]]
    memory = "" if out["memory_gb"] is None else f", ~{out['memory_gb']:.1f} of {out['budget_gb']:.1f} GB GPU memory"
    took = f"{estimate_range(*out['estimate_range'])} ({out['estimate_basis']})"
    lines.append(f"  {out['samples']} samples, {took}{memory}, ~{out['disk_bytes'] / 1e6:.0f} MB of disk")
    return lines


async def _kept(client: HandOff, run_id: int) -> str:
    """What Ctrl+C left in the studio: the run's step and its checkpoints."""
    try:
        view = await asyncio.to_thread(client.call, "GET", f"/api/training/{run_id}")
    except StudioError as exc:
        return f"stopped run {run_id} in the studio ({exc.user_message})"
    steps = [int(c["step"]) for c in view["checkpoints"]]
    done = view["run"]["steps_done"] or view["step"]
    kept = (
        f"its checkpoints at step {', '.join(map(str, steps))} stay there (the run's page registers one)"
        if steps
        else "no checkpoint was written yet"
    )
    return f"stopped run {run_id} in the studio at step {done}/{view['run']['steps']}: {kept}"


async def hand_off_cancel(settings: Settings, refused: FolderInUse, name: str) -> str:
    """Stop the owner's run of `name` (newest first, still queued or running) through the API; what became of it."""
    client = HandOff(owner_or_refusal(settings, refused))
    runs = await asyncio.to_thread(client.call, "GET", "/api/training")
    found = next(
        (run for run in runs if same_name(name, run["output_name"]) and run["status"] in ("queued", "running")), None
    )
    if found is None:
        raise StudioError(f"The studio runs no training of '{name}' (`studio train list` shows the trainings).")
    ended = await asyncio.to_thread(client.call, "POST", f"/api/training/{found['run_id']}/cancel")
    done = ended["steps_done"] or 0
    return (
        f"cancelled run {ended['run_id']} ({ended['output_name']}) in the studio at step {done}/{ended['steps']}: "
        "its checkpoints stay there"
    )
