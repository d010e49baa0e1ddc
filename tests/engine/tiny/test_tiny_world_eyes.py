"""The world's eyes: the tiny-world embedder loads from its committed weights and tells the world's characters apart.

Fresh renders (engine/tiny/world/identity.py), not the build's: thresholds sit well below the measured figures
(BENCHMARKS.md, "Model quality"). About a second: a 0.4 M-parameter CNN on 32 px images.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.backends import WorkContext
from engine.host import EngineConfig, EngineHost
from engine.tasks import check_set
from engine.tiny.world import world
from engine.tiny.world.concept import write_zorp_set
from engine.tiny.world.eyes import EYES_DIR, TinyWorldEmbedder
from engine.tiny.world.identity import cosines, pairs, retrieval
from engine.vision.catalog import embedder_for, load_embedder, resolve_vision
from engine.work import CheckSetTask, WorkOrder


@pytest.fixture(scope="module")
def eyes() -> TinyWorldEmbedder:
    embedder = load_embedder("tiny-world-eyes")
    assert isinstance(embedder, TinyWorldEmbedder)
    return embedder


def test_the_eyes_are_a_catalog_embedder_and_tiny_worlds_own(eyes: TinyWorldEmbedder) -> None:
    assert resolve_vision("embedder", "tiny-world-eyes").architecture == "tiny-world"
    assert embedder_for("tiny-world", "clip-vit-base-patch32") == "tiny-world-eyes"
    assert embedder_for("tiny-sd", "clip-vit-base-patch32") == embedder_for(None, "clip-vit-base-patch32")
    assert (EYES_DIR / "model.safetensors").stat().st_size < 2_000_000
    assert eyes.name == "tiny-world-eyes" and 0 < eyes.identity_threshold < 1
    # A host configured for another embedder still hands out the model's own by name.
    host = EngineHost(EngineConfig(device="cpu", embedder="tiny-clip"))
    assert isinstance(host.embedder("tiny-world"), TinyWorldEmbedder)


def test_renders_of_one_character_are_closer_than_renders_of_two(eyes: TinyWorldEmbedder) -> None:
    drawn = pairs(80, seed=5)
    same, different = cosines(eyes, drawn.anchors, drawn.same), cosines(eyes, drawn.anchors, drawn.different)
    assert (same > different).mean() >= 0.85  # measured 0.99 over 500 pairs
    assert same.mean() - different.mean() >= 0.3
    assert (same >= eyes.identity_threshold).mean() >= 0.75  # what the sheet's "same character" counts
    assert (different < eyes.identity_threshold).mean() >= 0.75
    assert same[::10].min() >= eyes.identity_threshold - 0.1  # every tenth anchor is a zorp
    assert retrieval(eyes, 2, seed=6) >= 0.5  # chance 1/49


def test_the_same_image_gives_the_same_vector_whatever_its_size(eyes: TinyWorldEmbedder) -> None:
    image = world.render(world.Scene("square", "green", "white"), random.Random(3))
    small, large = eyes.embed([image, image.resize((128, 128), 0)])  # a nearest-neighbour upscale: same pixels
    np.testing.assert_allclose(small, large, atol=1e-5)
    assert abs(float(np.linalg.norm(small)) - 1.0) < 1e-4
    assert eyes.embed([]).shape == (0, 64)


def test_a_set_check_on_tiny_world_flags_the_one_image_that_is_not_a_zorp(tmp_path: Path) -> None:
    paths = write_zorp_set(tmp_path, 12)
    stranger = tmp_path / "stranger.png"
    world.render(world.Scene("circle", "red", "blue"), random.Random(0)).save(stranger)
    paths.insert(5, stranger)
    host = EngineHost(EngineConfig(device="cpu", embedder="tiny-clip"))  # the set's model names its own eyes
    task = CheckSetTask(tuple(paths), 32, "tiny-world")
    outcome = check_set.run(WorkOrder(1, "check_set", task), WorkContext(1, threading.Event(), lambda e: None), host)
    assert outcome.embedder == "tiny-world-eyes"
    assert [f.number for f in outcome.findings if "outlier" in f.codes] == [6]


@pytest.mark.slow  # runs the engine's sheet task on tiny-world (a second or two)
def test_a_tiny_world_sheet_counts_the_panels_that_keep_the_reference(tiny_manager, tmp_path: Path) -> None:
    from engine.catalog import ModelSpec, get_preset
    from engine.tasks import sheet
    from engine.types import GenerateRequest
    from engine.work import GenerateTask, SheetTask

    reference = tmp_path / "ref.png"
    world.render(world.Scene("circle", "red", "blue"), random.Random(1)).save(reference)
    host = EngineHost(EngineConfig(device="cpu", embedder="tiny-clip"), manager_factory=lambda: tiny_manager)
    spec = ModelSpec.from_preset(get_preset("tiny-world"))

    def panels(description: str, strength: float) -> tuple[tuple[float, ...] | None, int | None]:
        request = GenerateRequest(prompt="x", model="tiny-world", count=1, seed=3, strength=strength)
        task = SheetTask(GenerateTask(request, spec), ("on a white background", "on a black background"))
        task = SheetTask(task.generate, task.panels, description=description)
        order = WorkOrder(1, "sheet", task, {"source": reference}, tmp_path / f"{description}-{strength}")
        outcome = sheet.run(order, WorkContext(1, threading.Event(), lambda e: None), host)
        return outcome.identity, outcome.identity_kept

    kept_cosines, kept = panels("a red circle", 0.2)  # a light touch: the same character
    changed_cosines, changed = panels("a green triangle", 1.0)  # all noise, another character asked for
    assert kept == 2 and changed == 0
    assert kept_cosines is not None and changed_cosines is not None
    assert min(kept_cosines) > max(changed_cosines)
