"""`studio trainset list|show|add|pick|unpick`: the training sets, from the bot's machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.commands._local import CliDelivery, with_services
from cli.commands._support import Context, local_caller, run_async
from studio.contract import Caller
from studio.names import same_name
from studio.trainsets.api import TrainsetInfo, TrainsetItem, TrainsetView

if TYPE_CHECKING:
    from studio.container import Services

IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)
GUILD = click.option("--guild", type=int, help="The server's id (default: the sets made on this machine).")


def _caller(guild: int | None) -> Caller:
    return local_caller(guild)


def _info(info: TrainsetInfo) -> str:
    marks = [f"{info.size} image(s)", f"owner {info.owner_id}"]
    if info.trigger_word:
        marks.append(f"trigger '{info.trigger_word}'")
    if info.base_model:
        marks.append(f"base {info.base_model}")
    if info.locked:
        marks.append("locked")
    return f"{info.name}: " + ", ".join(marks)


def _item(item: TrainsetItem) -> str:
    caption = item.caption or "(caption pending)"
    added = f"{item.source} by {item.added_by}, {item.added_at:%Y-%m-%d %H:%M}"
    return f"  {item.number:>3}. {caption}  [{added}]  {item.path}"


@click.group()
def trainset() -> None:
    """Training sets (the same as /trainset in Discord)."""


@trainset.command("list")
@GUILD
@click.pass_obj
def list_sets(obj: Context, guild: int | None) -> None:
    """The sets of a server, with their size and owner."""

    async def go(services: Services, _delivery: CliDelivery) -> list[TrainsetInfo]:
        return await services.trainsets.list(_caller(guild))

    sets = run_async(lambda: with_services(obj.settings, go, start=False))  # reading only: beside any owner
    for info in sets:
        click.echo(_info(info))
    if not sets:
        click.echo("no training sets yet")


@trainset.command("show")
@click.argument("name")
@GUILD
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the numbered contact sheet here.")
@click.pass_obj
def show(obj: Context, name: str, guild: int | None, out: Path | None) -> None:
    """A set's images, numbered, with their captions and who added them, and the check before training."""

    async def go(services: Services, _delivery: CliDelivery) -> TrainsetView:
        return await services.trainsets.show(_caller(guild), name)

    view = run_async(lambda: with_services(obj.settings, go, start="if_free"))  # checks run unless the folder is owned
    click.echo(_info(view.info))
    for item in view.items:
        click.echo(_item(item))
    click.echo(view.verdict.summary)
    for flagged in view.verdict.flagged:
        click.echo(f"  #{flagged.number}: {'; '.join(flagged.notes)}")
    if out is not None and view.contact_sheet is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(view.contact_sheet)
        click.echo(f"contact sheet: {out}")


@trainset.command("add")
@click.argument("name")
@click.argument("images", nargs=-1, required=True, type=IMAGE)
@GUILD
@click.pass_obj
def add(obj: Context, name: str, images: tuple[Path, ...], guild: int | None) -> None:
    """Add image files to a set (created when it does not exist yet) and caption them."""

    async def go(services: Services, _delivery: CliDelivery) -> list[TrainsetItem]:
        caller = _caller(guild)
        if not any(same_name(s.name, name) for s in await services.trainsets.list(caller)):  # in any case
            await services.trainsets.create(caller, name)
        added, captions = await services.trainsets.add_uploads(caller, [p.read_bytes() for p in images], name)
        if captions is not None:
            await services.jobs.wait(captions)  # the captions, before the command ends
        return added

    added = run_async(lambda: with_services(obj.settings, go))
    for item in added:
        click.echo(f"added image {item.number}: {item.path}")
    if len(added) < len(images):
        click.echo(f"{len(images) - len(added)} image(s) were in the set already, or it is full")


IMAGE_ID = click.argument("image_id", metavar="IMAGE_ID", type=click.IntRange(min=1))


@trainset.command("pick")
@click.argument("name")
@IMAGE_ID
@GUILD
@click.pass_obj
def pick(obj: Context, name: str, image_id: int, guild: int | None) -> None:
    """Put one of the bot's results into a set by its image id (as ⭐ or a keycap does in Discord) and caption it.

    `studio generate` prints each image's id.
    """

    async def go(services: Services, _delivery: CliDelivery) -> TrainsetItem:
        item, captions = await services.curation.pick(_caller(guild), name, image_id)
        if captions is not None:
            await services.jobs.wait(captions)  # the caption, before the command ends
        return item

    item = run_async(lambda: with_services(obj.settings, go))
    click.echo(f"picked image {image_id} as image {item.number}: {item.path}")


@trainset.command("unpick")
@click.argument("name")
@IMAGE_ID
@GUILD
@click.pass_obj
def unpick(obj: Context, name: str, image_id: int, guild: int | None) -> None:
    """Take image IMAGE_ID out of a set again (its set's copy of the file goes with it)."""

    async def go(services: Services, _delivery: CliDelivery) -> TrainsetItem:
        return await services.curation.unpick(_caller(guild), name, image_id)

    item = run_async(lambda: with_services(obj.settings, go, start="if_free"))
    click.echo(f"took image {image_id} (image {item.number}) out of the set")
