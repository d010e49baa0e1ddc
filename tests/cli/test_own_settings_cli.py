"""`studio generate --set NAME=VALUE`: a model's own settings, written into the PNG and listed by `models list`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cli.commands.gen_cmd import _as_api
from studio.images.api import GenerateInput


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_generate_with_a_clip_skip_records_it_as_a1111_does(run, tmp_path: Path) -> None:
    out = tmp_path / "skip"
    result = run(
        "generate", "a hut", "-n", "1", "-m", "tiny-sd", "--steps", "2", "--set", "clip_skip=2", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    (png,) = out.glob("*.png")
    with Image.open(png) as img:
        assert "Clip skip: 2" in img.info["parameters"]


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("clip_skip", "Write each setting as name=value"),
        ("clip_skip=9", "clip_skip must be a whole number from 1 to 4"),
    ],
)
def test_a_bad_setting_is_one_line_and_nonzero(run, setting, needle) -> None:
    result = run("generate", "a hut", "-m", "tiny-sd", "--set", setting)
    assert result.exit_code != 0 and needle in result.output
    assert "Traceback" not in result.output


def test_a_handed_off_generation_keeps_the_settings() -> None:
    # A CLI run handed to a serving web process goes as the API's body: a key left out here would be lost quietly.
    assert _as_api(GenerateInput(prompt="a hut", extras={"clip_skip": "3"}))["extras"] == {"clip_skip": "3"}
    assert "extras" not in _as_api(GenerateInput(prompt="a hut"))


def test_models_list_shows_a_models_own_settings(run) -> None:
    result = run("models", "list")
    tiny_sd = result.output.split("\ntiny-sd ", 1)[1].split("\n")
    assert any(line.strip().startswith("--set clip_skip (a whole number from 1 to 4)") for line in tiny_sd[1:3])
