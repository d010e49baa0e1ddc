"""`studio models ...`: list and install models."""

from __future__ import annotations

from pathlib import Path

import click

from cli.commands._support import Context, run_async
from studio.models.api import MODEL_FAMILIES, ModelInfo


@click.group()
def models() -> None:
    """The model catalog."""


def _line(info: ModelInfo) -> str:
    if info.kind == "lora":
        trigger = f", trigger '{info.trigger_word}'" if info.trigger_word else ""
        return f"{info.display_name:<24} LoRA  {info.family:<6} on {info.base_model}{trigger}"  # the name as typed
    w, h = info.default_size or (0, 0)
    return (
        f"{info.name:<24} base  {info.family:<6} {info.vram_gb or 0:>4.1f} GB  quality {info.quality}/5  "
        f"speed {info.speed}/5  {w}x{h}, {info.default_steps} steps, guidance {info.default_guidance}"
        + (f"  [{info.licence}]" if info.licence else "")
        + (f"\n{'':<24} memory: {info.memory}" if info.memory else "")
        + "".join(f"\n{'':<24} --set {line}" for line in info.settings)
    )


def print_catalog(obj: Context) -> None:
    from studio.models.service import read_catalog

    for info in run_async(lambda: read_catalog(obj.settings.db_path, obj.settings.default_model)):
        click.echo(_line(info))


@models.command("list")
@click.pass_obj
def list_models(obj: Context) -> None:
    """Base models and trained LoRAs, as the picker shows them; then the captioners, segmenters and rewriters."""
    from studio.models.service import helper_models

    print_catalog(obj)
    engine = obj.settings.engine
    for helper in helper_models({engine.captioner, engine.segmenter, engine.rewriter, engine.embedder}):
        mark = " (selected)" if helper.selected else ""
        test = " (test model)" if helper.is_test_model else ""
        click.echo(f"{helper.id:<24} {helper.kind:<9} {helper.source}{test}{mark}")


@models.command("add")
@click.argument("name")
@click.argument("source")
@click.option("--family", type=click.Choice(MODEL_FAMILIES), required=True)
@click.option("--display-name")
@click.pass_obj
def add_model(obj: Context, name: str, source: str, family: str, display_name: str | None) -> None:
    """Install a base model: a diffusers folder, a .safetensors file, or a hub id."""
    from studio.models.admin import add_base_model

    record = run_async(lambda: add_base_model(obj.settings, name, source, family, display_name))
    shown = f"{name.strip()} (as {record.name})" if record.name != name.strip() else record.name
    click.echo(f"added base model {shown} ({record.family}) from {record.source}")


@models.command("import-lora")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True)
@click.option("--base", "base_model", required=True, help="Base model the LoRA was trained on.")
@click.option("--trigger", "trigger_word")
@click.pass_obj
def import_lora(obj: Context, path: Path, name: str, base_model: str, trigger_word: str | None) -> None:
    """Install a LoRA file (.safetensors, diffusers or kohya format) so it appears in the picker."""
    from studio.models.admin import import_lora as do_import

    record = run_async(lambda: do_import(obj.settings, path, name, base_model, trigger_word))
    click.echo(f"imported LoRA {record.display_name} on {record.base_model} ({record.family})")


@models.command("disable")
@click.argument("name")
@click.pass_obj
def disable(obj: Context, name: str) -> None:
    """Hide a model from the picker (its files stay)."""
    from studio.models.admin import set_active

    shown = run_async(lambda: set_active(obj.settings, name, False))
    click.echo(f"{shown} disabled (`studio models enable {shown}` shows it again)")


@models.command("enable")
@click.argument("name")
@click.pass_obj
def enable(obj: Context, name: str) -> None:
    """Show a disabled model in the picker again."""
    from studio.models.admin import set_active

    shown = run_async(lambda: set_active(obj.settings, name, True))
    click.echo(f"{shown} enabled")


@models.command("export")
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["kohya", "diffusers"]),
    default="kohya",
    show_default=True,
    help="kohya: for AUTOMATIC1111 and ComfyUI; diffusers: for diffusers and this studio.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Where to write it.")
@click.option("--force", is_flag=True, help="Replace the file at --out if there is one.")
@click.pass_obj
def export(obj: Context, name: str, fmt: str, out: Path, force: bool) -> None:
    """Write a LoRA trained here as a .safetensors file, with the metadata other tools read."""
    from studio.models.admin import export_lora

    written = run_async(lambda: export_lora(obj.settings, name, fmt, out, force))
    click.echo(f"wrote {written} ({fmt} format)")
