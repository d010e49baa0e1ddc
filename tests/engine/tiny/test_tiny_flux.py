"""The tiny FLUX.1 models: built offline, saved as diffusers folders, loaded back, and run in milliseconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from engine.tiny.flux import t5_tokenizer
from engine.tiny.models import build_tiny_pipeline, ensure_tiny_folder

FLUX_MODELS = {"tiny-flux": "FluxPipeline", "tiny-flux-kontext": "FluxKontextPipeline"}
RUN = {"height": 64, "width": 64, "num_inference_steps": 2, "max_sequence_length": 32, "output_type": "np"}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny models gain nothing from intra-op threads, and spin-waiting OpenMP threads slow a shared CPU down.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def flux_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cache = tmp_path_factory.mktemp("flux-models")
    return {name: ensure_tiny_folder(name, cache) for name in FLUX_MODELS}


@pytest.fixture(scope="module")
def flux_pipes(flux_folders: dict[str, Path]) -> dict[str, Any]:
    from diffusers import DiffusionPipeline

    return {name: DiffusionPipeline.from_pretrained(str(f), use_safetensors=True) for name, f in flux_folders.items()}


def _generators(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


@pytest.mark.parametrize("name", FLUX_MODELS)
def test_folder_loads_back_as_its_pipeline_class(name: str, flux_folders: dict[str, Path], flux_pipes: dict[str, Any]):
    pipe = flux_pipes[name]
    assert type(pipe).__name__ == FLUX_MODELS[name]
    assert type(pipe.tokenizer).__name__ == "CLIPTokenizer"
    assert type(pipe.tokenizer_2).__name__ == "T5Tokenizer"
    assert not any(flux_folders[name].rglob("*.bin"))
    # A second call finds the folder valid and returns it as is.
    assert ensure_tiny_folder(name, flux_folders[name].parent) == flux_folders[name]


def test_build_is_deterministic_and_the_two_models_differ(tmp_path: Path) -> None:
    first = build_tiny_pipeline("tiny-flux", tmp_path / "a").transformer.state_dict()
    again = build_tiny_pipeline("tiny-flux", tmp_path / "b").transformer.state_dict()
    kontext = build_tiny_pipeline("tiny-flux-kontext", tmp_path / "c").transformer.state_dict()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], kontext[key]) for key in first)


def test_txt2img_is_deterministic_per_image_seed(flux_pipes: dict[str, Any]) -> None:
    pipe = flux_pipes["tiny-flux"]
    images = pipe(prompt=["a red cat"] * 2, generator=_generators(5, 6), **RUN).images
    again = pipe(prompt=["a red cat"] * 2, generator=_generators(5, 6), **RUN).images
    assert images.shape == (2, 64, 64, 3)
    assert np.array_equal(images, again)
    assert not np.allclose(images[0], images[1])


def test_kontext_edits_an_image_at_its_own_size(flux_pipes: dict[str, Any]) -> None:
    source = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    # Without max_area and _auto_resize=False, Kontext would render at about one megapixel.
    run = RUN | {"output_type": "pil", "max_area": 64 * 64, "_auto_resize": False}
    pipe = flux_pipes["tiny-flux-kontext"]
    image = pipe(image=source, prompt="make it red", generator=_generators(1), **run).images[0]
    assert image.size == (64, 64)


def test_t5_tokenizer_round_trips_a_prompt(flux_pipes: dict[str, Any]) -> None:
    for tokenizer in (t5_tokenizer(), flux_pipes["tiny-flux"].tokenizer_2):
        ids = tokenizer("a red cat").input_ids
        assert ids[-1] == tokenizer.eos_token_id
        words = [i for i in ids if i not in (tokenizer.unk_token_id, tokenizer.eos_token_id)]
        assert len(words) == len(ids) - 1 > 1
        assert tokenizer.decode(ids, skip_special_tokens=True) == "a red cat"
