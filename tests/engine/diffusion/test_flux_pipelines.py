"""FLUX.1 through the engine's generate call, on the built-in tiny-flux models: the same rules as SD and SDXL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from engine.catalog import ModelSpec, get_preset
from engine.diffusion.loading import load_folder
from engine.errors import InvalidRequest, ModelUnavailable
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import STEPS, max_diff, random_flux_lora

BATCH_TOLERANCE = 2  # 8-bit levels between an image made in a batch and alone (float summation order)


@pytest.fixture(scope="module")
def flux_spec() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-flux"))


@pytest.fixture(scope="module")
def kontext_spec() -> ModelSpec:
    return ModelSpec.from_preset(get_preset("tiny-flux-kontext"))


def req(model: str = "tiny-flux", **kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a red lighthouse", "model": model, "steps": STEPS, **kw})


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_every_count_with_consecutive_seeds(manager, flux_spec, count) -> None:
    result = manager.generate(req(count=count, seed=40), flux_spec)
    assert [im.seed for im in result.images] == [40 + i for i in range(count)]
    assert all(im.image.size == (64, 64) for im in result.images)
    assert result.params.scheduler == "flow_match_euler" and result.params.guidance == 3.5
    if count > 1:
        assert max_diff(result.images[0].image, result.images[1].image) > 10


def test_image_i_of_a_batch_equals_its_seed_alone(manager, flux_spec) -> None:
    batch = manager.generate(req(count=4, seed=7), flux_spec)
    again = manager.generate(req(count=4, seed=7), flux_spec)
    assert all(max_diff(a.image, b.image) == 0 for a, b in zip(batch.images, again.images, strict=True))
    alone = manager.generate(req(count=1, seed=9), flux_spec)
    assert max_diff(batch.images[2].image, alone.images[0].image) <= BATCH_TOLERANCE


@pytest.mark.parametrize("mode", ["img2img", "inpaint"])
def test_img2img_and_inpaint_from_the_one_loaded_pipeline(manager, flux_spec, mode) -> None:
    source = manager.generate(req(count=1, seed=1, aspect="3:2"), flux_spec).images[0].image
    assert source.size == (96, 64)
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, source.width // 2, source.height))
    inputs = {"init_image": source, "strength": 0.75} | ({"mask_image": mask} if mode == "inpaint" else {})
    batch = manager.generate(req(count=2, seed=7, **inputs), flux_spec)
    alone = manager.generate(req(count=1, seed=8, **inputs), flux_spec)
    # The source's shape at the model's area, in multiples of 16 (not the pipelines' default of 1024²).
    assert batch.params.mode == mode and batch.images[0].image.size == (80, 48)
    assert max_diff(batch.images[0].image, batch.images[1].image) > 0
    assert max_diff(batch.images[1].image, alone.images[0].image) <= BATCH_TOLERANCE
    variant, base = manager.pipeline(flux_spec, mode), manager.pipeline(flux_spec)
    assert (
        variant is not base
        and variant.transformer is base.transformer
        and variant.text_encoder_2 is base.text_encoder_2
    )


def test_the_kontext_model_generates_and_edits_with_plain_image_to_image(manager, kontext_spec) -> None:
    made = manager.generate(req("tiny-flux-kontext", count=2, seed=3), kontext_spec)
    assert len(made.images) == 2 and made.params.guidance == 2.5
    edited = manager.generate(req("tiny-flux-kontext", count=1, seed=3, init_image=made.images[0].image), kontext_spec)
    assert edited.params.mode == "img2img" and type(manager.pipeline(kontext_spec, "img2img")).__name__ == (
        "FluxImg2ImgPipeline"
    )


@pytest.mark.parametrize(
    ("request_kw", "message"),
    [
        ({"width": 72, "height": 64}, "multiple of 16 pixels"),
        ({"scheduler": "ddim"}, "does not fit flux models: use flow_match_euler"),
        ({"negative": "blurry"}, "FLUX models take no negative prompt"),
    ],
)
def test_what_flux_cannot_take_is_refused_clearly(manager, flux_spec, request_kw, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        manager.generate(req(**request_kw), flux_spec)


def test_sd_models_refuse_the_flow_scheduler(manager, sd_spec) -> None:
    with pytest.raises(InvalidRequest, match="does not fit sd15 models"):
        manager.generate(req("tiny-sd", scheduler="flow_match_euler"), sd_spec)


def test_schnell_takes_no_guidance_and_at_most_256_text_tokens() -> None:
    schnell = get_preset("flux-schnell")
    assert (schnell.guidance_range, schnell.steps, schnell.max_sequence_length) == ((0.0, 0.0), 4, 256)
    assert schnell.licence == "Apache-2.0" and "Non-Commercial" in get_preset("flux-dev").licence
    assert get_preset("flux-kontext").edits_by_instruction


# -- LoRAs -------------------------------------------------------------------------------------------------------


def test_a_flux_lora_changes_the_image_and_scale_zero_is_the_base(manager, flux_spec, tiny_cache, tmp_path) -> None:
    state = random_flux_lora(tiny_cache, seed=11)
    path = tmp_path / "style.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in state.items()}, str(path))
    lora = LoraSpec(name="style", path=str(path), family="flux", scale=1.0)
    base = manager.generate(req(count=1, seed=5), flux_spec).images[0].image
    styled = manager.generate(req(count=1, seed=5, loras=(lora,)), flux_spec).images[0].image
    off = LoraSpec(name="style", path=str(path), family="flux", scale=0.0)
    zero = manager.generate(req(count=1, seed=5, loras=(off,)), flux_spec).images[0].image
    assert max_diff(base, styled) > 0 and max_diff(base, zero) == 0
    assert max_diff(manager.generate(req(count=1, seed=5), flux_spec).images[0].image, base) == 0  # off again


def test_a_lora_whose_keys_load_nothing_is_refused(manager, flux_spec, tiny_cache, tmp_path) -> None:
    # peft keys without the `transformer.` prefix: diffusers logs a warning and loads nothing (flux notes §4).
    state = random_flux_lora(tiny_cache, seed=12)
    path = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    lora = LoraSpec(name="bare", path=str(path), family="flux", scale=1.0)
    with pytest.raises(ModelUnavailable, match="loads no weights"):
        manager.generate(req(count=1, seed=5, loras=(lora,)), flux_spec)
    assert manager.generate(req(count=1, seed=5), flux_spec).images  # the model still works


def test_kontext_edits_by_instruction_at_the_input_images_aspect(manager, flux_spec, kontext_spec) -> None:
    wide = Image.new("RGB", (192, 96), (200, 40, 40))
    edit = req("tiny-flux-kontext", prompt="make it blue", count=2, seed=21, init_image=wide, instruct=True)
    result = manager.generate(edit, kontext_spec)
    assert result.params.mode == "instruct" and result.params.strength is None
    assert [im.image.size for im in result.images] == [(96, 48)] * 2  # 2:1 like the input, not Kontext's 1 MP
    alone = manager.generate(replace(edit, count=1, seed=22), kontext_spec)
    assert max_diff(result.images[1].image, alone.images[0].image) <= BATCH_TOLERANCE
    assert type(manager.pipeline(kontext_spec, "instruct")).__name__ == "FluxKontextPipeline"
    with pytest.raises(InvalidRequest, match="does not edit by instruction"):
        manager.generate(replace(edit, model="tiny-flux"), flux_spec)
    with pytest.raises(InvalidRequest, match="takes no strength"):
        manager.generate(replace(edit, strength=0.5), kontext_spec)


def _double_block_lora(tiny_cache: Path, seed: int) -> dict[str, torch.Tensor]:
    """A random LoRA on the first double block's attention and feed-forward (kohya's single-block split assumes
    full-size widths, so the tiny model's single blocks stay out of the cross-format check)."""
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = load_folder(tiny_cache / "builtin" / "tiny-flux", "flux")
    torch.manual_seed(seed)
    modules = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "ff.net.2")
    targets = [f"transformer_blocks.0.{m}" for m in modules]
    config = LoraConfig(r=4, lora_alpha=2, init_lora_weights=False, target_modules=targets)
    pipe.transformer.add_adapter(config)
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(pipe.transformer).items()}


def test_kohya_and_comfyui_layouts_load_as_the_diffusers_one(manager, flux_spec, tiny_cache, tmp_path) -> None:
    from engine.families.flux.kohya_keys import to_kohya

    state = _double_block_lora(tiny_cache, seed=13)
    files = {"diffusers": tmp_path / "d.safetensors", "kohya": tmp_path / "k.safetensors"}
    # diffusers' layout carries alpha in its header; here alpha = rank / 2 is folded into the B matrices instead.
    save_file({f"transformer.{k}": (v * 0.5 if ".lora_B." in k else v).contiguous() for k, v in state.items()},
              str(files["diffusers"]))  # fmt: skip
    kohya = to_kohya(state, alpha=2.0)
    save_file({k: v.contiguous() for k, v in kohya.items()}, str(files["kohya"]))
    comfy = {k.replace("lora_unet_double_blocks_0_", "diffusion_model.double_blocks.0."): v for k, v in kohya.items()}
    comfy = {k.replace("_attn_qkv", "_attn.qkv").replace("_attn_proj", "_attn.proj").replace("_mlp_2", "_mlp.2"): v
             for k, v in comfy.items()}  # fmt: skip
    files["comfyui"] = tmp_path / "c.safetensors"
    save_file({k: v.contiguous() for k, v in comfy.items()}, str(files["comfyui"]))
    images = {}
    for layout, path in files.items():
        lora = LoraSpec(name=f"style-{layout}", path=str(path), family="flux", scale=1.0)
        images[layout] = manager.generate(req(count=1, seed=5, loras=(lora,)), flux_spec).images[0].image
    base = manager.generate(req(count=1, seed=5), flux_spec).images[0].image
    assert max_diff(images["diffusers"], base) > 0
    assert max_diff(images["kohya"], images["diffusers"]) <= 1 and max_diff(images["comfyui"], images["diffusers"]) <= 1


def test_fused_qkv_is_never_combined_with_a_lora(flux_lora_file, tiny_cache, flux_spec, manager) -> None:
    from engine.diffusion.pipelines import PipelineManager

    optimised = PipelineManager("cpu", cache_dir=tiny_cache, optimize=True)
    plain = manager.generate(req(count=1, seed=5), flux_spec).images[0].image
    fused = optimised.generate(req(count=1, seed=5), flux_spec).images[0].image
    entry = optimised._loaded["tiny-flux"]
    assert entry.qkv_fused and max_diff(fused, plain) <= 1  # the same model, one matmul for q, k and v
    lora = LoraSpec(name="style", path=str(flux_lora_file), family="flux", scale=1.0)
    styled = optimised.generate(req(count=1, seed=5, loras=(lora,)), flux_spec).images[0].image
    assert not entry.qkv_fused  # fused q/k/v would bypass the LoRA's layers (flux notes §0.6)
    assert max_diff(styled, manager.generate(req(count=1, seed=5, loras=(lora,)), flux_spec).images[0].image) <= 1


def test_an_xlabs_layout_loads_as_the_diffusers_one(manager, flux_spec, tiny_cache, tmp_path) -> None:
    """XLabs files name BFL's fused attention (`processor.qkv_lora1`) and carry no alpha (scale 1)."""
    from peft import LoraConfig, get_peft_model_state_dict

    from engine.families.flux.kohya_keys import to_kohya

    pipe = load_folder(tiny_cache / "builtin" / "tiny-flux", "flux")
    torch.manual_seed(14)
    targets = [f"transformer_blocks.0.attn.{m}" for m in ("to_q", "to_k", "to_v", "to_out.0")]
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=targets))
    state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(pipe.transformer).items()}
    diffusers_file, xlabs_file = tmp_path / "d.safetensors", tmp_path / "x.safetensors"
    save_file({f"transformer.{k}": v.contiguous() for k, v in state.items()}, str(diffusers_file))
    kohya = to_kohya(state, alpha=4.0)
    names = {"img_attn_qkv": "qkv_lora1", "img_attn_proj": "proj_lora1"}
    xlabs = {}
    for bfl, xl in names.items():
        key = f"lora_unet_double_blocks_0_{bfl}"
        down, up = kohya[f"{key}.lora_down.weight"], kohya[f"{key}.lora_up.weight"]
        scale = kohya[f"{key}.alpha"].item() / down.shape[0]  # XLabs has no alpha: fold it into the up weights
        xlabs[f"double_blocks.0.processor.{xl}.down.weight"] = down.contiguous()
        xlabs[f"double_blocks.0.processor.{xl}.up.weight"] = (up * scale).contiguous()
    save_file(xlabs, str(xlabs_file))
    images = [
        manager.generate(req(count=1, seed=5, loras=(LoraSpec(name, str(path), "flux", 1.0),)), flux_spec).images[0]
        for name, path in (("d-style", diffusers_file), ("x-style", xlabs_file))
    ]
    assert max_diff(images[0].image, manager.generate(req(count=1, seed=5), flux_spec).images[0].image) > 0
    assert max_diff(images[0].image, images[1].image) <= 1
