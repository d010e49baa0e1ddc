"""Qwen-Image through the engine's generate call, on the built-in tiny-qwen: txt2img, img2img and inpaint from one
loaded pipeline, guidance as true CFG against the negative prompt, its refusals, LoRAs in the diffusers and kohya
layouts, and the refusal to train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from engine.catalog import ModelSpec, get_preset
from engine.diffusion.loading import load_folder
from engine.errors import InvalidRequest
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import STEPS, max_diff

BATCH_TOLERANCE = 2  # 8-bit levels between an image made in a batch and alone (float summation order)


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-qwen"))


def req(**kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a shop sign that says OPEN", "model": "tiny-qwen", "steps": STEPS, **kw})


def test_two_images_with_consecutive_seeds_and_the_model_card_defaults(manager, spec) -> None:
    result = manager.generate(req(count=2, seed=40), spec)
    assert [im.seed for im in result.images] == [40, 41]
    assert all(im.image.size == (64, 64) for im in result.images)
    assert (result.params.scheduler, result.params.guidance) == ("flow_match_euler", 4.0)
    assert max_diff(result.images[0].image, result.images[1].image) > 10
    alone = manager.generate(req(count=1, seed=41), spec)
    assert max_diff(result.images[1].image, alone.images[0].image) <= BATCH_TOLERANCE
    assert type(manager.pipeline(spec)).__name__ == "QwenImageTrueCfgPipeline"


def test_guidance_is_true_cfg_against_the_negative_prompt(manager, spec) -> None:
    def image(**kw) -> Image.Image:
        return manager.generate(req(count=1, seed=9, **kw), spec).images[0].image

    guided, steered = image(), image(negative="blurry, watermark")
    one_pass, one_pass_negative = image(guidance=1.0), image(guidance=1.0, negative="blurry")
    assert max_diff(guided, steered) > 0  # above 1 the negative prompt is the second pass's
    assert max_diff(guided, one_pass) > 0  # and guidance weighs it against the prompt
    assert max_diff(one_pass, one_pass_negative) == 0  # at 1 there is no second pass to read it


@pytest.mark.parametrize("mode", ["img2img", "inpaint"])
def test_img2img_and_inpaint_from_the_one_loaded_pipeline(manager, spec, mode) -> None:
    source = manager.generate(req(count=1, seed=1, aspect="3:2"), spec).images[0].image
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, source.width // 2, source.height))
    inputs = {"init_image": source, "strength": 0.75} | ({"mask_image": mask} if mode == "inpaint" else {})
    batch = manager.generate(req(count=2, seed=7, steps=4, **inputs), spec)
    alone = manager.generate(req(count=1, seed=8, steps=4, **inputs), spec)
    assert batch.params.mode == mode and batch.images[0].image.size == (80, 48)  # the source's shape, sides of 16
    assert max_diff(batch.images[0].image, batch.images[1].image) > 0  # each image encodes with its own seed
    assert max_diff(batch.images[1].image, alone.images[0].image) <= BATCH_TOLERANCE
    variant, base = manager.pipeline(spec, mode), manager.pipeline(spec)
    names = {"img2img": "QwenImageTrueCfgImg2ImgPipeline", "inpaint": "QwenImageTrueCfgInpaintPipeline"}
    assert type(variant).__name__ == names[mode]
    assert variant.transformer is base.transformer and variant.text_encoder is base.text_encoder


@pytest.mark.parametrize(
    ("request_kw", "message"),
    [
        ({"guidance": 0.5}, "Guidance must be from 1 to 10"),
        ({"scheduler": "euler"}, "does not fit qwen models: use flow_match_euler"),
        ({"width": 72, "height": 64}, "multiple of 16 pixels"),
        ({"instruct": True, "init_image": Image.new("RGB", (64, 64))}, "'tiny-qwen' does not edit by instruction"),
    ],
)
def test_what_it_cannot_take_is_refused_clearly(manager, spec, request_kw, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        manager.generate(req(**request_kw), spec)


def _random_lora(tiny_cache: Path, seed: int) -> dict[str, torch.Tensor]:
    """A random (not a no-op) LoRA on the tiny transformer's block (attention and image MLP), as peft names it."""
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = load_folder(tiny_cache / "builtin" / "tiny-qwen", "qwen")
    torch.manual_seed(seed)
    modules = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "img_mlp.net.2", "txt_mlp.net.2")
    targets = [f"transformer_blocks.0.{m}" for m in modules]
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=targets))
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(pipe.transformer).items()}


def test_a_lora_in_the_diffusers_or_kohya_layout_changes_the_image(manager, spec, tiny_cache, tmp_path) -> None:
    state = _random_lora(tiny_cache, seed=11)
    diffusers_file, kohya_file = tmp_path / "d.safetensors", tmp_path / "k.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in state.items()}, str(diffusers_file))
    # kohya's names: lora_unet_ + the module path with underscores, lora_down/up, alpha = rank (scale 1).
    kohya: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        module, kind = key.rsplit(".lora_", 1)
        name = "lora_unet_" + module.replace(".", "_")
        kohya[f"{name}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = value.contiguous()
        kohya[f"{name}.alpha"] = torch.tensor(4.0)
    save_file(kohya, str(kohya_file))
    base = manager.generate(req(count=1, seed=5), spec).images[0].image
    images = [
        manager.generate(req(count=1, seed=5, loras=(LoraSpec(name, str(path), "qwen", 1.0),)), spec).images[0].image
        for name, path in (("d-style", diffusers_file), ("k-style", kohya_file))
    ]
    assert max_diff(images[0], base) > 0 and max_diff(images[0], images[1]) <= 1
    zero = LoraSpec("d-style", str(diffusers_file), "qwen", 0.0)
    assert max_diff(manager.generate(req(count=1, seed=5, loras=(zero,)), spec).images[0].image, base) == 0


def test_its_lora_files_are_recognised_by_their_tensor_names(tiny_cache, tmp_path) -> None:
    from engine.families.lora_detect import lora_family_of

    path = tmp_path / "q.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in _random_lora(tiny_cache, seed=3).items()}, str(path))
    assert lora_family_of(path) == "qwen"


def test_training_is_refused_in_one_line_saying_why() -> None:
    from engine.training.recipes import recipe_for

    with pytest.raises(InvalidRequest, match="20 B transformer") as refused:
        recipe_for("qwen")
    assert "\n" not in str(refused.value)
