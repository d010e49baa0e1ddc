"""The sheet and caption tasks on the real engine: tiny-sd and the tiny captioner, offline."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image

from engine.backends import WorkContext
from engine.catalog import ModelSpec, get_preset
from engine.host import EngineConfig, EngineHost
from engine.images.output import parse_a1111_parameters
from engine.tasks import caption, sheet
from engine.types import GenerateRequest
from engine.work import CaptionTask, GenerateTask, SheetTask, WorkOrder

pytestmark = pytest.mark.slow


@pytest.fixture
def host(tiny_manager) -> EngineHost:
    return EngineHost(EngineConfig(captioner="tiny-blip"), manager_factory=lambda: tiny_manager)


def _ctx(events: list[tuple[int, int]]) -> WorkContext:
    return WorkContext(1, threading.Event(), lambda e: events.append((e.step, e.total)))


def _reference(tmp_path: Path) -> Path:
    path = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), (180, 120, 90)).save(path)
    return path


def test_a_sheet_group_makes_one_image_per_panel_from_the_reference(host, tmp_path) -> None:
    spec = ModelSpec.from_preset(get_preset("tiny-sd"))
    request = GenerateRequest(prompt="x", model="tiny-sd", count=1, seed=10, steps=4, strength=0.5)
    task = SheetTask(GenerateTask(request, spec), ("left profile", "in a café"), trigger_word="hero")
    order = WorkOrder(1, "sheet", task, {"source": _reference(tmp_path)}, tmp_path / "out")
    events: list[tuple[int, int]] = []
    outcome = sheet.run(order, _ctx(events), host)
    assert [i.index for i in outcome.images.images] == [0, 1]
    assert [i.seed for i in outcome.images.images] == [10, 11]
    assert outcome.prompts[0].startswith("hero, ") and outcome.prompts[0].endswith(", left profile")
    assert outcome.prompts[1].endswith(", in a café") and outcome.description in outcome.prompts[1]
    for image, prompt in zip(outcome.images.images, outcome.prompts, strict=True):
        with Image.open(image.file.path) as png:
            params = parse_a1111_parameters(png.info["parameters"])
        assert params["prompt"] == prompt and params["seed"] == image.seed
    assert outcome.images.grid is not None and outcome.images.grid.path.is_file()
    assert events[-1] == (200, 200) and [s for s, _ in events] == sorted(s for s, _ in events)
    assert outcome.identity is None and outcome.identity_kept is None  # only a model with its own eyes is scored
    # A remix gives the words: no caption is made.
    given = SheetTask(GenerateTask(request, spec), ("smiling",), description="a red dragon")
    again = sheet.run(WorkOrder(2, "sheet", given, {"source": _reference(tmp_path)}, tmp_path / "two"), _ctx([]), host)
    assert again.prompts == ("a red dragon, smiling",)


def test_captions_come_one_per_image_and_none_for_a_broken_file(host, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths = (_reference(tmp_path), broken)
    outcome = caption.run(WorkOrder(3, "caption", CaptionTask(paths)), _ctx([]), host)
    assert outcome.paths == paths
    assert isinstance(outcome.captions[0], str) and outcome.captions[0]
    assert outcome.captions[1] is None
