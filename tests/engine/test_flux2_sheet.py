"""A character sheet on tiny-flux2: each panel an edit from the reference plus the best panels made so far."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PIL import Image

from engine.backends import WorkContext
from engine.catalog import ModelSpec, get_preset
from engine.host import EngineConfig, EngineHost
from engine.tasks import sheet
from engine.types import GenerateRequest
from engine.work import GenerateTask, SheetTask, WorkOrder

pytestmark = pytest.mark.slow


def test_each_panel_receives_the_reference_and_the_best_panels_so_far(tiny_manager, tmp_path, monkeypatch) -> None:
    host = EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: tiny_manager)
    seen: list[list[Any]] = []
    real = type(tiny_manager)._call_pipeline

    def spy(self: Any, pipe: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["image"])
        return real(self, pipe, **kwargs)

    monkeypatch.setattr(type(tiny_manager), "_call_pipeline", spy)
    source = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), (180, 120, 90)).save(source)
    spec = ModelSpec.from_preset(get_preset("tiny-flux2"))
    request = GenerateRequest(prompt="x", model="tiny-flux2", count=1, seed=3, steps=2)
    task = SheetTask(GenerateTask(request, spec), ("left profile", "smiling", "in a café"))
    outcome = sheet.run(WorkOrder(1, "sheet", task, {"source": source}, tmp_path / "out"), _ctx(), host)
    assert outcome.method == "references" and len(outcome.images.images) == 3
    # The reference first, then the panels made so far (1, then 2): every reference reaches the pipeline.
    assert [len(images) for images in seen] == [1, 2, 3]
    reference = Image.open(source).convert("RGB")
    assert all(images[0].tobytes() == reference.tobytes() for images in seen)
    first_panel = Image.open(outcome.images.images[0].file.path).convert("RGB")
    assert seen[1][1].tobytes() == first_panel.tobytes()


def _ctx() -> WorkContext:
    return WorkContext(1, threading.Event(), lambda _event: None)
