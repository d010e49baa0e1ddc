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
    assert not isinstance(host.embedder(), TinyWorldEmbedder)


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
