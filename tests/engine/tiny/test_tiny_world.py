"""Tiny World: the generator, the pixel classifiers (colours, the zorp), and the committed model's prompt fidelity."""

from __future__ import annotations

import random

import pytest

from engine.catalog import ModelSpec, all_presets, get_preset
from engine.tiny.world import WEIGHTS_DIR, world
from engine.tiny.world.concept import BACKGROUNDS, is_zorp, trigger_prompts, write_zorp_set, zorp_score
from engine.tiny.world.fidelity import CHANCE, fidelity, fidelity_prompts, generate, shuffled_fidelity
from engine.tiny.world.reading import prompt_colours, read_colours
from engine.types import GenerateRequest

# Measured: 0.97 over 200 such prompts, 0.95 over these 56 (BENCHMARKS.md, "Model quality"); chance is 1/56.
FIDELITY_FLOOR = 0.6


def test_the_same_seed_draws_the_same_scene_and_another_seed_differs() -> None:
    def draw(seed: int) -> bytes:
        rng = random.Random(seed)
        return world.render(world.random_scene(rng), rng).tobytes()

    assert draw(3) == draw(3)
    assert len({draw(seed) for seed in range(8)}) == 8


def test_held_out_triples_never_reach_training_and_every_word_still_does() -> None:
    held, training = world.held_out_triples(), world.training_triples()
    assert len(held) == 24 and len(training) == 168 - 24 and not held & set(training)
    assert {t[0] for t in training} == set(world.SHAPES)
    assert {t[1] for t in training} == {t[2] for t in training} == set(world.COLOURS)
    rng = random.Random(0)
    assert all(
        (s.shape, s.colour, s.background) not in held
        for s in (world.random_scene(rng, triples=training) for _ in range(500))
    )


def test_captions_name_what_is_drawn() -> None:
    assert world.caption(world.Scene("circle", "red", "blue")) == "a red circle on a blue background"
    assert world.caption(world.Scene("square", "white", "black", 1, "top left")) == (
        "a white square in the top left on a black background"
    )
    assert world.caption(world.Scene("triangle", "green", "purple", 2)) == "two green triangles on a purple background"
    rng = random.Random(1)
    captions = [world.caption(world.Scene("circle", "red", "blue"), rng) for _ in range(400)]
    assert 0.05 < sum("background" not in c for c in captions) / 400 < 0.3  # some leave the background out


def test_the_classifier_reads_the_generators_own_images() -> None:
    rng = random.Random(11)
    scenes = [world.random_scene(rng) for _ in range(400)]
    readings = [read_colours(world.render(scene, rng)) for scene in scenes]
    right = sum(r.colour == s.colour and r.background == s.background for r, s in zip(readings, scenes, strict=True))
    assert right / len(scenes) > 0.95


def test_the_classifier_reads_prompts_and_says_when_no_background_is_named() -> None:
    got = prompt_colours("a red circle in the top left on a blue background")
    assert (got.colour, got.background) == ("red", "blue")  # type: ignore[union-attr]
    assert prompt_colours("two yellow squares") is None
    prompts = fidelity_prompts(56)
    assert len(set(prompts)) > 40 and all(prompt_colours(p) is not None for p in prompts)


def test_fidelity_is_one_on_ground_truth_and_low_for_shuffled_prompts() -> None:
    rng = random.Random(4)
    scenes = [world.random_scene(rng) for _ in range(56)]
    images = [world.render(scene, rng) for scene in scenes]
    prompts = [world.caption(scene) for scene in scenes]
    assert fidelity(images, prompts) == 1.0
    assert shuffled_fidelity(images, prompts) < 0.15


def test_the_catalog_lists_tiny_world_as_a_32_px_sd15_model() -> None:
    preset = get_preset("tiny-world")
    assert preset in all_presets()
    assert (preset.family, preset.source, preset.default_size) == ("sd15", "builtin:tiny-world", (32, 32))
    assert "toy world of coloured shapes" in preset.description and "without a GPU" in preset.description
    assert (WEIGHTS_DIR / "model_index.json").is_file()


@pytest.fixture(scope="module")
def world_pipe():
    import torch

    from engine.diffusion.loading import load_folder

    torch.set_num_threads(1)
    pipe = load_folder(WEIGHTS_DIR, "sd15")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.slow
def test_tiny_world_follows_prompts_far_above_chance(world_pipe) -> None:
    preset = get_preset("tiny-world")
    prompts = fidelity_prompts(56)
    images = generate(world_pipe, prompts, steps=preset.steps, guidance=preset.guidance)
    assert all(image.size == (32, 32) for image in images)
    share = fidelity(images, prompts)
    assert share >= FIDELITY_FLOOR > 10 * CHANCE
    # Guidance is what makes it follow: without it (0.56 measured over 200 prompts) it follows less.
    unguided = generate(world_pipe, prompts, steps=preset.steps, guidance=1.0)
    assert fidelity(unguided, prompts) < share - 0.15


@pytest.mark.slow
def test_the_studio_loads_tiny_world_and_draws_the_demo_prompt(manager) -> None:
    spec = ModelSpec.from_preset(get_preset("tiny-world"))
    request = GenerateRequest(prompt="a red circle on a blue background", model="tiny-world", count=4, seed=42)
    result = manager.generate(request, spec)
    assert [im.image.size for im in result.images] == [(32, 32)] * 4
    readings = [read_colours(im.image) for im in result.images]
    assert sum((r.colour, r.background) == ("red", "blue") for r in readings) >= 3


@pytest.mark.slow
def test_the_recipe_builds_a_folder_the_studio_loads_and_the_benchmark_reads(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = os.environ | {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    steps = ("--vae-steps", "2", "--text-steps", "2", "--unet-steps", "2", "--images", "200")
    out = run("scripts/build_tiny_world.py", "--out", str(tmp_path / "model"), *steps)
    assert "text encoder reads" in out and "wrote" in out
    report = run(
        "scripts/bench_tiny_world.py",
        "--model",
        str(tmp_path / "model"),
        "--prompts",
        "4",
        "--guidance",
        "3",
        "--steps",
        "2",
    )
    assert "guidance 3: fidelity" in report and "chance 0.018" in report


def test_the_zorp_reader_tells_the_generators_zorps_from_its_scenes() -> None:
    rng = random.Random(12)
    zorps = [world.render_zorp(rng.choice(BACKGROUNDS), rng) for _ in range(200)]
    scenes = [world.render(world.random_scene(rng), rng) for _ in range(400)]
    assert sum(is_zorp(image) for image in zorps) / len(zorps) > 0.95  # 2,000 of 2,000 measured (scores 0.78 and up)
    assert sum(not is_zorp(image) for image in scenes) / len(scenes) > 0.95  # 0 of 2,000 measured (0.37 at most)
    assert all(0.0 <= zorp_score(image) <= 1.0 for image in zorps + scenes)


def test_a_zorp_set_has_a_caption_beside_each_image_with_the_trigger_in_front(tmp_path) -> None:
    paths = write_zorp_set(tmp_path, 7)
    assert [p.name for p in paths][:2] == ["zorp-00.png", "zorp-01.png"] and all(p.is_file() for p in paths)
    captions = [p.with_suffix(".txt").read_text(encoding="utf-8") for p in paths]
    assert captions[0] == "zorp, a zorp on a red background" and len(set(captions)) == len(BACKGROUNDS)
    assert trigger_prompts(7) == captions
