"""`studio train` refuses what it cannot train before it copies or captions anything, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.training_support import planted_images


@pytest.fixture
def run(run, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUDIO_CAPTIONER", "tiny-blip")  # captions without weights
    return run


def _copied(data: Path) -> list[Path]:
    """Every image file the studio keeps of a training set or an upload."""
    return [p for folder in ("trainsets", "uploads", "training") for p in (data / folder).rglob("*") if p.is_file()]


def _refused(run, tmp_path: Path, folder: Path, *options: str) -> str:
    result = run("train", "--images", str(folder), "--name", "hero", "--base", "tiny-sd", *options)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert _copied(tmp_path / "data") == []
    assert "no training sets yet" in run("trainset", "list").output
    return lines[0]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--steps", "0"), "steps must be between 1 and 20000, not 0"),
        (("--rank", "999"), "rank must be between 1 and 256, not 999"),
        (("--resolution", "70"), "resolution must be a multiple of 8 between 32 and 512, not 70"),
        (("--learning-rate", "50"), "learning rate must be between 1e-06 and 10, not 50"),
        (("--optimizer", "prodigy", "--learning-rate", "0"), "learning rate must be between"),
    ],
)
def test_a_bad_setting_is_refused_before_any_image_is_copied(
    run, tmp_path: Path, options: tuple[str, ...], said: str
) -> None:
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    assert said in _refused(run, tmp_path, folder, "--force", *options)


def test_a_bad_file_is_named(run, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    (folder / "notes.png").write_text("not a picture")
    line = _refused(run, tmp_path, folder, "--force")
    assert "notes.png is not a usable image" in line and "remove it from the folder" in line


def test_too_few_images_need_force_and_the_plan_says_so(run, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    line = _refused(run, tmp_path, folder)
    assert "3 image(s): a training needs at least 20 (min_training_images)" in line and "--force" in line


def test_no_caption_source_is_refused(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CAPTIONER", "blip-large")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # no weights here
    monkeypatch.setenv("STUDIO_HF_OFFLINE", "1")
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    (folder / "0.txt").write_text("zzhero in the rain")  # one caption of three is not enough
    line = _refused(run, tmp_path, folder, "--force")
    assert "No caption for 2 image(s) (e.g. 1.png)" in line and "blip-large" in line and ".txt" in line


@pytest.mark.slow  # the engine's caption job runs (and fails to load its captioner)
def test_a_captioner_that_fails_leaves_the_set_as_it_was(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "my-blip"  # looks like a BLIP folder, holds no weights: only loading it tells
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "blip"}')
    monkeypatch.setenv("STUDIO_CAPTIONER", str(broken))
    folder = tmp_path / "photos"
    planted_images(folder, 3)
    result = run("train", "--images", str(folder), "--name", "hero", "--base", "tiny-sd", "--force")
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert "The captioner left 3 image(s) without a caption" in line and "Nothing was trained" in line
    assert "no training sets yet" in run("trainset", "list").output
    assert not list((tmp_path / "data" / "trainsets").rglob("*.png"))
    assert "no trainings yet" in run("train", "list").output
