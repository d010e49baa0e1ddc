from __future__ import annotations

import os
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.diffusion.lora import LoraCache, adapter_name, adapter_slug
from engine.errors import InvalidRequest, ModelUnavailable
from engine.types import GenerateRequest, LoraSpec
from tests.engine.conftest import STEPS, max_diff


def req(*loras: LoraSpec, model: str = "tiny-sd", **kw) -> GenerateRequest:
    return GenerateRequest(
        **{"prompt": "portrait", "model": model, "count": 1, "seed": 11, "steps": STEPS, "loras": loras} | kw
    )


def lora(path: Path, scale: float = 1.0, name: str | None = None, family: str = "sd15") -> LoraSpec:
    return LoraSpec(name=name or path.stem, path=path, family=family, scale=scale)


def test_files_are_written_in_both_layouts(lora_files) -> None:
    diffusers_keys = list(load_file(lora_files.a_diffusers))
    kohya_keys = list(load_file(lora_files.a_kohya))
    assert all(k.startswith("unet.") and ".lora" in k for k in diffusers_keys)
    assert all(k.startswith("lora_unet_") for k in kohya_keys)
    assert any(k.endswith(".alpha") for k in kohya_keys)


def test_both_formats_change_the_output_alike_and_scale_zero_is_base(manager, sd_spec, lora_files) -> None:
    base = manager.generate(req(), sd_spec).images[0].image
    with_diffusers = manager.generate(req(lora(lora_files.a_diffusers)), sd_spec).images[0].image
    with_kohya = manager.generate(req(lora(lora_files.a_kohya)), sd_spec).images[0].image
    at_zero = manager.generate(req(lora(lora_files.a_diffusers, scale=0.0)), sd_spec).images[0].image
    assert max_diff(base, with_diffusers) > 10
    assert max_diff(with_diffusers, with_kohya) == 0
    assert max_diff(base, at_zero) == 0


def test_switching_adapters_between_requests(manager, sd_spec, lora_files) -> None:
    base = manager.generate(req(), sd_spec).images[0].image
    a = manager.generate(req(lora(lora_files.a_diffusers)), sd_spec).images[0].image
    b = manager.generate(req(lora(lora_files.b_diffusers)), sd_spec).images[0].image
    none = manager.generate(req(), sd_spec).images[0].image
    both = (
        manager.generate(req(lora(lora_files.a_diffusers, 0.5), lora(lora_files.b_diffusers, 0.5)), sd_spec)
        .images[0]
        .image
    )
    a_again = manager.generate(req(lora(lora_files.a_diffusers)), sd_spec).images[0].image
    assert max_diff(a, b) > 10
    assert max_diff(base, none) == 0
    assert min(max_diff(both, a), max_diff(both, b), max_diff(both, base)) > 0
    assert max_diff(a, a_again) == 0
    result = manager.generate(req(lora(lora_files.a_diffusers, 0.7)), sd_spec)
    assert result.params.loras == (("a", 0.7),)


def test_lora_applies_to_img2img_through_shared_weights(manager, sd_spec, lora_files) -> None:
    source = manager.generate(req(), sd_spec).images[0].image
    plain = manager.generate(req(init_image=source), sd_spec).images[0].image
    styled = manager.generate(req(lora(lora_files.a_diffusers), init_image=source), sd_spec).images[0].image
    assert max_diff(plain, styled) > 0


def test_lora_of_another_family_is_refused(manager, sd_spec, sdxl_spec, lora_files) -> None:
    with pytest.raises(InvalidRequest, match="made for sdxl"):
        manager.generate(req(lora(lora_files.sdxl, family="sdxl")), sd_spec)
    with pytest.raises(InvalidRequest, match="made for sd15"):
        manager.generate(req(lora(lora_files.a_diffusers), model="tiny-sdxl"), sdxl_spec)
    cache = manager.loras(sd_spec)
    with pytest.raises(InvalidRequest):
        cache.activate([lora(lora_files.sdxl, family="sdxl")])


def test_mislabelled_lora_file_is_refused_cleanly(manager, sd_spec, lora_files) -> None:
    # An SDXL file labelled sd15 passes validation but does not fit the model.
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        manager.generate(req(lora(lora_files.sdxl, name="liar")), sd_spec)
    assert len(manager.generate(req(), sd_spec).images) == 1


def test_pickle_and_missing_lora_files_are_refused(manager, sd_spec, tmp_path: Path) -> None:
    pickled = tmp_path / "style.pt"
    pickled.write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match="pickle"):
        manager.loras(sd_spec).activate([lora(pickled)])
    with pytest.raises(ModelUnavailable, match="not found"):
        manager.loras(sd_spec).activate([lora(tmp_path / "gone.safetensors")])


def test_resident_loras_are_bounded_by_size(manager, sd_spec, lora_files) -> None:
    size = lora_files.a_diffusers.stat().st_size
    cache = LoraCache(manager.pipeline(sd_spec), "sd15", max_bytes=int(size * 1.5))
    try:
        a, b = lora(lora_files.a_diffusers, name="lru a"), lora(lora_files.b_diffusers, name="lru b")
        cache.activate([a])
        cache.activate([b])
        assert cache.resident == (adapter_name(b),)
        assert adapter_name(a) not in manager.pipeline(sd_spec).get_list_adapters()["unet"]
        cache.activate([a, b])  # both needed at once: the budget yields for the current request
        assert set(cache.resident) == {adapter_name(a), adapter_name(b)}
    finally:
        cache.clear()


def test_adapter_names_are_safe_slugs(lora_files) -> None:
    assert adapter_slug("../My Style!! v2") == "my_style_v2"
    name = adapter_name(lora(lora_files.a_diffusers, name="../evil/name"))
    assert name.startswith("evil_name_")
    assert "/" not in name
    assert "." not in name


def test_a_resident_adapter_keeps_its_weights_when_the_file_is_overwritten(manager, sd_spec, lora_files, tmp_path):
    # Loaded weights must live in memory: a file mapped instead would change (or crash the process with
    # SIGBUS when truncated) under an adapter that is still resident.
    path = tmp_path / "x.safetensors"
    path.write_bytes(lora_files.a_diffusers.read_bytes())
    first = manager.generate(req(lora(path, name="x")), sd_spec).images[0].image
    stat = path.stat()
    other = lora_files.b_diffusers.read_bytes()
    assert len(other) == stat.st_size
    with path.open("r+b") as f:  # in place, same size and modification time: the same adapter name
        f.write(other)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = manager.generate(req(lora(path, name="x")), sd_spec).images[0].image
    assert max_diff(first, again) == 0
