"""Server file paths never reach Discord users."""

from __future__ import annotations

import pytest

from bot.ui.feedback import user_message
from bot.ui.render import failed_text, hide_paths
from studio.errors import StudioError


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Model 'broken': '/tmp/x/missing-model' is not a folder", "Model 'broken': 'missing-model' is not a folder"),
        ("look in /srv/studio/data/models/ first", "look in (a folder) first"),
        (r"C:\Users\me\lora.safetensors is bad", "lora.safetensors is bad"),
        ("ratio 2/3 and https://example.org/a/b stay", "ratio 2/3 and https://example.org/a/b stay"),
    ],
)
def test_hide_paths(message: str, shown: str) -> None:
    assert hide_paths(message) == shown


def test_failures_and_refusals_hide_paths() -> None:
    assert "/home/" not in failed_text("cannot read /home/admin/models/sd.safetensors")
    assert user_message(StudioError("missing /opt/weights/unet")) == "missing unet"


def test_grid_attachment_keeps_the_encoded_extension(tmp_path) -> None:
    from bot.ui.render_images import grid_filename
    from studio.images.api import JobResult

    def result(grid: str | None, spoiler: bool = False) -> JobResult:
        return JobResult(
            job_id=7,
            kind="generate",
            requester_id=1,
            prompt="p",
            negative_prompt="",
            model="m",
            loras=(),
            seed=1,
            steps=2,
            guidance=1.0,
            width=8,
            height=8,
            images=(),
            grid_path=(tmp_path / grid) if grid else None,
            spoiler=spoiler,
        )

    assert grid_filename(result("grid.webp")) == "job7_grid.webp"  # a big grid re-encoded to fit the upload limit
    assert grid_filename(result("grid.png", spoiler=True)) == "SPOILER_job7_grid.png"
    assert grid_filename(result(None)) == "job7_grid.png"
