"""FLUX.2 [klein] through the engine's generate call, on the built-in tiny-flux2: generation, edits from one or
several references, inpainting, the refusals, and LoRAs in diffusers' layout."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from engine.catalog import ModelSpec, get_preset
from engine.diffusion.loading import load_folder
from engine.errors import InvalidRequest
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import STEPS, max_diff


@pytest.fixture(scope="module")
def klein() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-flux2"))


def req(**kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a red lighthouse", "model": "tiny-flux2", "steps": STEPS, **kw})


def test_two_images_with_consecutive_seeds(manager, klein) -> None:
    result = manager.generate(req(count=2, seed=40), klein)
    assert [im.seed for im in result.images] == [40, 41]
    assert all(im.image.size == (64, 64) for im in result.images)
    assert max_diff(result.images[0].image, result.images[1].image) > 10
    assert type(manager.pipeline(klein)).__name__ == "Flux2KleinPipeline"


def test_an_edit_reads_every_reference(manager, klein) -> None:
    red, blue = Image.new("RGB", (96, 64), (200, 40, 40)), Image.new("RGB", (96, 64), (40, 40, 200))
    edit = req(prompt="make it blue", count=2, seed=21, init_image=red, instruct=True)
    one = manager.generate(edit, klein)
    assert one.params.mode == "instruct" and [im.image.size for im in one.images] == [(80, 48)] * 2
    two = manager.generate(replace(edit, references=(blue,)), klein)
    # The second reference's tokens join the sequence: the same seed draws another image.
    assert max_diff(one.images[0].image, two.images[0].image) > 0
    with pytest.raises(InvalidRequest, match="at most 4 reference"):
        manager.generate(replace(edit, references=(blue,) * 4), klein)
    with pytest.raises(InvalidRequest, match="instruction edit only"):
        manager.generate(req(references=(blue,)), klein)


def test_inpaint_and_the_refusals(manager, klein) -> None:
    source = Image.new("RGB", (64, 64), (90, 160, 90))
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, 32, 64))
    inputs = {"init_image": source, "mask_image": mask, "strength": 0.9}
    painted = manager.generate(req(count=2, seed=3, **inputs), klein)
    alone = manager.generate(req(count=1, seed=4, **inputs), klein)
    assert painted.params.mode == "inpaint" and type(manager.pipeline(klein, "inpaint")).__name__ == (
        "Flux2KleinInpaintPipeline"
    )
    # Image i of a batch is seed + i: the second image is the one seed 4 makes alone.
    assert max_diff(painted.images[1].image, alone.images[0].image) <= 2 < max_diff(*(i.image for i in painted.images))
    with pytest.raises(InvalidRequest, match="not by strength"):
        manager.generate(req(count=1, init_image=source, strength=0.5), klein)
    with pytest.raises(InvalidRequest, match="take no negative prompt"):
        manager.generate(req(negative="blurry"), klein)
    with pytest.raises(InvalidRequest, match="Guidance must be exactly 1"):
        manager.generate(req(guidance=3.5), klein)


def test_a_klein_lora_changes_the_image_and_scale_zero_is_the_base(manager, klein, tiny_cache, tmp_path) -> None:
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = load_folder(tiny_cache / "builtin" / "tiny-flux2", "flux2")
    torch.manual_seed(13)
    config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v"])
    pipe.transformer.add_adapter(config)
    state = get_peft_model_state_dict(pipe.transformer)
    path = tmp_path / "klein.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in state.items()}, str(path))
    on, off = (LoraSpec(name="k", path=str(path), family="flux2", scale=s) for s in (1.0, 0.0))
    base = manager.generate(req(count=1, seed=5), klein).images[0].image
    assert max_diff(base, manager.generate(req(count=1, seed=5, loras=(on,)), klein).images[0].image) > 0
    assert max_diff(base, manager.generate(req(count=1, seed=5, loras=(off,)), klein).images[0].image) == 0


def test_klein_presets_state_their_licences_and_steps() -> None:
    small, large = get_preset("flux2-klein-4b"), get_preset("flux2-klein-9b")
    assert small.licence == "Apache-2.0" and "Non-Commercial" in large.licence
    assert (small.steps, small.guidance_range, small.edits_by_instruction) == (4, (1.0, 1.0), True)
