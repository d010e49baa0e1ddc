"""`studio describe|vary|edit`, and the service rules behind the commands (refusals, storage, restarts)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cli.main import cli
from engine.errors import ModelUnavailable
from engine.vision.catalog import load_captioner, resolve_vision, vision_presets
from studio.container import open_services
from studio.errors import StudioError
from studio.images.api import EditImageInput, VaryImageInput
from tests.bot.images.conftest import ALICE, TINY_ENV, host_for, mask_bytes, png_bytes, with_engine

# ---------------------------------------------------------------- CLI


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for name, value in TINY_ENV.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes())
    return path


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_cli_describe_prints_numbered_prompts(run, photo: Path) -> None:
    result = run("describe", str(photo), "--count", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split(". ", 1)[0] for line in lines] == ["1", "2", "3"]
    assert len({line.split(". ", 1)[1] for line in lines}) == 3


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_cli_vary_prints_the_output_prompt_and_images(run, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "vary", str(photo), "make it a watercolor", "-n", "1", "--seed", "3", "--strength", "0.4", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("Output prompt: ") and "watercolor painting" in first
    files = sorted(p.name for p in out.iterdir())
    assert files == ["job1_0_seed3.png"]
    with Image.open(out / files[0]) as png:
        assert png.info["parameters"].startswith(first.removeprefix("Output prompt: "))
        assert "Denoising strength: 0.4" in png.info["parameters"]


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_cli_edit_with_a_mask_writes_the_overlay(run, photo: Path, tmp_path: Path) -> None:
    mask = tmp_path / "mask.png"
    mask.write_bytes(mask_bytes())
    out = tmp_path / "out"
    result = run("edit", str(photo), "a red umbrella", "--mask", str(mask), "-n", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "mask overlay:" in result.output
    assert (out / "job1_mask_overlay.png").is_file()


def test_cli_models_list_shows_the_vision_models(run) -> None:
    result = run("models", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "tiny-sd" in lines
    assert "(selected)" in lines["tiny-blip"] and "(selected)" in lines["tiny-clipseg"]
    assert "Salesforce/blip-image-captioning-large" in lines["blip-large"] and "(selected)" not in lines["blip-large"]
    assert "microsoft/Florence-2-base" in lines["florence-2-base"]


def test_cli_edit_needs_one_of_mask_and_region(run, photo: Path) -> None:
    result = run("edit", str(photo), "a hat")
    assert result.exit_code == 2 and "exactly one of --mask or --region" in result.output


def test_cli_refuses_a_text_file_named_png(run, tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("hello", encoding="utf-8")
    result = run("describe", str(fake))
    assert result.exit_code == 1 and "not a supported image" in result.output


# ---------------------------------------------------------------- services


async def test_described_prompts_survive_a_restart(settings, tiny_manager) -> None:
    async with open_services(settings, host=host_for(settings, tiny_manager)) as first:
        await first.jobs.start()
        described = await first.describe.describe(ALICE, png_bytes(), 2)
    async with open_services(settings, host=host_for(settings, tiny_manager)) as second:
        assert await second.describe.described(described.job_id) == described
        with pytest.raises(StudioError, match="no prompt"):
            await second.describe.generate_described(ALICE, described.job_id, 5)
    stored = list((settings.data_dir / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".png" and len(stored[0].stem) == 64


async def test_reroll_of_a_vary_job_keeps_the_output_prompt(services) -> None:
    await services.jobs.start()
    ticket = await services.edits.vary_image(ALICE, png_bytes(), VaryImageInput("make it a pencil sketch", count=1))
    first = await services.jobs.wait(ticket.job_id, 60)
    again = await services.followups.reroll(ALICE, ticket.job_id)
    second = await services.jobs.wait(again.job_id, 60)
    # The output prompt is the first job's outcome; its reroll starts from it, not from the instruction.
    assert first.request["instruction"] == first.request["prompt"] == "make it a pencil sketch"
    assert "pencil sketch" in first.result["prompt"] and first.result["prompt"] != first.request["prompt"]
    assert second.status == "done" and second.request["prompt"] == first.result["prompt"]
    assert second.request["instruction"] is None
    assert second.request["source_image"] == first.request["source_image"]


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda s: s.edits.vary_image(ALICE, png_bytes(), VaryImageInput("   ")), "instruction is empty"),
        (lambda s: s.edits.vary_image(ALICE, png_bytes(), VaryImageInput("x" * 600)), "too long"),
        (lambda s: s.edits.vary_image(ALICE, png_bytes(), VaryImageInput("blue", strength=1.5)), "Strength must be"),
        (lambda s: s.edits.vary_image(ALICE, png_bytes(), VaryImageInput("blue", count=3)), "Count must be"),
        (lambda s: s.edits.vary_image(ALICE, png_bytes(), VaryImageInput("blue", model="nope")), "Unknown model"),
        (lambda s: s.edits.edit_image(ALICE, png_bytes(), EditImageInput("hat")), "exactly one of"),
        (
            lambda s: s.edits.edit_image(ALICE, png_bytes(), EditImageInput("hat", region="sky"), mask_bytes()),
            "exactly one",
        ),
        (lambda s: s.edits.edit_image(ALICE, png_bytes(), EditImageInput("hat"), b"\x89PNG junk"), "Mask:"),
        (lambda s: s.describe.describe(ALICE, png_bytes(), 0), "Count must be"),
        (lambda s: s.describe.describe(ALICE, b"GIF89a broken", 2), "could not be read"),
    ],
)
async def test_bad_requests_are_refused_before_any_job(services, call, needle) -> None:
    with pytest.raises(StudioError, match=needle):
        await call(services)
    assert await services.db.jobs.get(1) is None


async def test_an_all_black_mask_is_refused(services) -> None:
    black = Image.new("L", (96, 64), 0)
    buffer = io.BytesIO()
    black.save(buffer, format="PNG")
    with pytest.raises(StudioError, match="Mask: The mask is all black"):
        await services.edits.edit_image(ALICE, png_bytes(), EditImageInput("hat"), buffer.getvalue())


async def test_too_many_bytes_are_refused_by_the_service_too(settings, tiny_manager) -> None:
    settings = settings.model_copy(update={"max_attachment_mb": 1})
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        with pytest.raises(StudioError, match="too large"):
            await services.describe.describe(ALICE, png_bytes() + b"\0" * (1024 * 1024), 2)


def test_vision_catalog_names_missing_weights_and_bad_settings(tmp_path: Path) -> None:
    captioners = [p.id for p in vision_presets("captioner")]
    assert captioners == ["blip-large", "blip-base", "florence-2-base", "tiny-blip", "tiny-world"]
    assert resolve_vision("segmenter", "clipseg").source == "CIDAS/clipseg-rd64-refined"
    with pytest.raises(ModelUnavailable, match="STUDIO_CAPTIONER='nope' is neither a catalog id"):
        resolve_vision("captioner", "nope")
    with pytest.raises(ModelUnavailable, match="is a segmenter, not a captioner"):
        resolve_vision("captioner", "tiny-clipseg")
    folder = tmp_path / "seg"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "blip"}', encoding="utf-8")
    assert resolve_vision("captioner", str(folder)).architecture == "blip"
    with pytest.raises(ModelUnavailable, match="does not hold a clipseg model"):
        resolve_vision("segmenter", str(folder))
    with pytest.raises(ModelUnavailable) as missing:
        load_captioner("blip-base", offline=True)
    assert "Salesforce/blip-image-captioning-base" in str(missing.value)
    assert "STUDIO_CAPTIONER=blip-base" in str(missing.value)


async def test_missing_captioner_weights_fail_describe_with_a_clear_message(settings, tiny_manager) -> None:
    settings = with_engine(settings, captioner="blip-base")
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        await services.jobs.start()
        with pytest.raises(StudioError, match="BLIP captioner could not be loaded"):
            await services.describe.describe(ALICE, png_bytes(), 2)


async def test_describe_answers_before_the_interaction_expires(settings, tiny_manager, monkeypatch) -> None:
    from studio.images import describe

    monkeypatch.setattr(describe, "DESCRIBE_WAIT_S", 0.2)
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        # Not started: the job waits in the queue past the limit.
        with pytest.raises(StudioError, match="queue is too long"):
            await services.describe.describe(ALICE, png_bytes(), 2)
        (job,) = await services.db.jobs.list_for_user(ALICE.user_id)
        assert job.kind == "describe"
        assert job.status == "cancelled"


async def test_a_describe_nobody_awaits_after_a_restart_is_dropped(settings, tiny_manager) -> None:
    import asyncio

    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        waiting = asyncio.create_task(services.describe.describe(ALICE, png_bytes(), 2))
        for _ in range(100):
            if await services.db.jobs.list_for_user(ALICE.user_id):
                break
            await asyncio.sleep(0.01)
        waiting.cancel()  # the process goes away with the caller
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        await services.jobs.start()
        (job,) = await services.db.jobs.list_for_user(ALICE.user_id)
        assert job.status == "cancelled"
