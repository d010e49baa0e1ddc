from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.diffusion.pipelines import PipelineManager
from engine.errors import Cancelled, OutOfMemory
from engine.types import GenerateRequest
from tests.engine.conftest import STEPS, max_diff

# Batched and single-image runs differ by at most this many 8-bit levels on the CPU (kernel blocking
# changes float summation order with the batch size); same-batch reruns are bit-identical.
BATCH_TOLERANCE = 2


def req(model: str = "tiny-sd", **kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a lighthouse at dusk", "model": model, "steps": STEPS, **kw})


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_every_count_returns_that_many_images_with_consecutive_seeds(manager, sd_spec, count) -> None:
    result = manager.generate(req(count=count, seed=100), sd_spec)
    assert len(result.images) == count
    assert [im.seed for im in result.images] == [100 + i for i in range(count)]
    assert [im.index for im in result.images] == list(range(count))
    assert all(im.image.size == (64, 64) for im in result.images)
    assert result.params.count == count
    assert result.elapsed_s > 0
    if count > 1:
        assert max_diff(result.images[0].image, result.images[1].image) > 10


def test_sdxl_generates_and_records_a_random_seed(manager, sdxl_spec) -> None:
    result = manager.generate(req("tiny-sdxl", count=2, aspect="3:2"), sdxl_spec)
    assert [im.image.size for im in result.images] == [(96, 64)] * 2
    assert [im.seed for im in result.images] == [result.params.seed, result.params.seed + 1]


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_image_i_of_a_batch_equals_its_seed_alone(manager, sd_spec, sdxl_spec, model) -> None:
    spec = sd_spec if model == "tiny-sd" else sdxl_spec
    batch = manager.generate(req(model, count=4, seed=7), spec)
    again = manager.generate(req(model, count=4, seed=7), spec)
    assert all(max_diff(a.image, b.image) == 0 for a, b in zip(batch.images, again.images, strict=True))
    for i in (0, 2):
        alone = manager.generate(req(model, count=1, seed=7 + i), spec)
        assert max_diff(batch.images[i].image, alone.images[0].image) <= BATCH_TOLERANCE


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
@pytest.mark.parametrize("mode", ["img2img", "inpaint"])
def test_image_i_of_an_image_batch_equals_its_seed_alone(manager, sd_spec, sdxl_spec, model, mode) -> None:
    # An OOM split or a rerun of one seed must give the same picture for img2img and inpaint too.
    spec = sd_spec if model == "tiny-sd" else sdxl_spec
    source = manager.generate(req(model, count=1, seed=1), spec).images[0].image
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, source.width // 2, source.height))
    inputs = {"init_image": source, "strength": 0.6} | ({"mask_image": mask} if mode == "inpaint" else {})
    batch = manager.generate(req(model, count=2, seed=7, **inputs), spec)
    alone = manager.generate(req(model, count=1, seed=8, **inputs), spec)
    assert batch.params.mode == mode
    assert max_diff(batch.images[1].image, alone.images[0].image) <= BATCH_TOLERANCE


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_img2img_and_inpaint_share_the_base_weights(manager, sd_spec, sdxl_spec, model) -> None:
    spec = sd_spec if model == "tiny-sd" else sdxl_spec
    source = manager.generate(req(model, count=1, seed=1), spec).images[0].image
    img2img = manager.generate(req(model, count=2, seed=5, init_image=source, strength=0.5), spec)
    assert img2img.params.mode == "img2img"
    assert len(img2img.images) == 2
    assert max_diff(img2img.images[0].image, source) > 0

    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, source.size[0] // 2, source.size[1]))  # change the left half only
    inpaint = manager.generate(req(model, count=1, seed=5, init_image=source, mask_image=mask), spec)
    assert inpaint.params.mode == "inpaint"
    assert inpaint.params.strength == 1.0
    assert inpaint.images[0].image.size == source.size

    base = manager.pipeline(spec)
    for mode in ("img2img", "inpaint"):
        variant = manager.pipeline(spec, mode)
        assert variant is not base
        assert variant.unet is base.unet
        assert variant.vae is base.vae
        assert variant.text_encoder is base.text_encoder


def test_each_request_gets_its_own_scheduler(manager, sd_spec) -> None:
    ddim = manager.generate(req(count=1, seed=3, scheduler="ddim"), sd_spec)
    euler = manager.generate(req(count=1, seed=3, scheduler="euler_a"), sd_spec)
    ddim_again = manager.generate(req(count=1, seed=3, scheduler="ddim"), sd_spec)
    assert max_diff(ddim.images[0].image, euler.images[0].image) > 0
    assert max_diff(ddim.images[0].image, ddim_again.images[0].image) == 0
    assert type(manager.pipeline(sd_spec).scheduler).__name__ == "DDIMScheduler"


def test_progress_is_reported_each_step(manager, sd_spec) -> None:
    seen: list[tuple[int, int]] = []
    manager.generate(req(count=1, seed=1, steps=3), sd_spec, on_progress=lambda s, t: seen.append((s, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancel_between_steps(manager, sd_spec) -> None:
    seen: list[int] = []
    with pytest.raises(Cancelled):
        manager.generate(
            req(count=2, seed=1, steps=4),
            sd_spec,
            on_progress=lambda s, _t: seen.append(s),
            should_cancel=lambda: bool(seen),
        )
    assert seen == [1]  # the remaining steps were skipped
    # The pipeline is usable again afterwards.
    assert len(manager.generate(req(count=1, seed=1), sd_spec).images) == 1


def test_cancel_before_start(manager, sd_spec) -> None:
    with pytest.raises(Cancelled):
        manager.generate(req(count=1), sd_spec, should_cancel=lambda: True)


@pytest.mark.parametrize(
    "error",
    [torch.cuda.OutOfMemoryError("CUDA out of memory."), RuntimeError("CUDA error: out of memory")],
    ids=["OutOfMemoryError", "RuntimeError"],
)
def test_out_of_memory_splits_the_batch(tiny_cache: Path, sd_spec, monkeypatch, error) -> None:
    manager = PipelineManager("cpu", cache_dir=tiny_cache)
    real_call = manager._call_pipeline
    batches: list[int] = []

    def flaky(pipe, **kwargs):
        batches.append(kwargs["num_images_per_prompt"])
        if kwargs["num_images_per_prompt"] > 2:
            raise error
        return real_call(pipe, **kwargs)

    monkeypatch.setattr(manager, "_call_pipeline", flaky)
    result = manager.generate(req(count=8, seed=40), sd_spec)
    assert batches == [8, 4, 2, 2, 2, 2]
    assert [im.seed for im in result.images] == list(range(40, 48))
    for i in (1, 6):
        alone = manager.generate(req(count=1, seed=40 + i), sd_spec)
        assert max_diff(result.images[i].image, alone.images[0].image) <= BATCH_TOLERANCE
    # The limit is remembered: the next job of that size goes straight to batches of 2.
    batches.clear()
    manager.generate(req(count=4, seed=1), sd_spec)
    assert batches == [2, 2]


def test_out_of_memory_for_one_image_is_reported(tiny_cache: Path, sd_spec, monkeypatch) -> None:
    manager = PipelineManager("cpu", cache_dir=tiny_cache)

    def always(_pipe, **_kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(manager, "_call_pipeline", always)
    with pytest.raises(OutOfMemory, match="smaller size"):
        manager.generate(req(count=2, seed=1), sd_spec)


def test_base_models_are_kept_in_an_lru(tiny_cache: Path, sd_spec, sdxl_spec) -> None:
    manager = PipelineManager("cpu", cache_dir=tiny_cache, max_models=1)
    first = manager.pipeline(sd_spec)
    assert manager.pipeline(sd_spec) is first
    manager.pipeline(sdxl_spec)
    assert manager.loaded_models == ("tiny-sdxl",)
    assert manager.pipeline(sd_spec) is not first


def test_optimized_manager_matches_eager_and_unfuses_for_loras(tiny_cache: Path, manager, sd_spec, lora_files) -> None:
    from engine.types import LoraSpec

    fast = PipelineManager("cpu", cache_dir=tiny_cache, optimize=True)
    eager = manager.generate(req(count=2, seed=9), sd_spec)
    optimized = fast.generate(req(count=2, seed=9), sd_spec)
    unet = fast.pipeline(sd_spec).unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert any(type(p).__name__.startswith("Fused") for p in unet.attn_processors.values())
    for a, b in zip(eager.images, optimized.images, strict=True):
        assert max_diff(a.image, b.image) <= BATCH_TOLERANCE
    styled = LoraSpec("a", lora_files.a_diffusers, "sd15")
    with_lora = fast.generate(req(count=1, seed=9, loras=(styled,)), sd_spec)
    assert not any(type(p).__name__.startswith("Fused") for p in unet.attn_processors.values())
    reference = manager.generate(req(count=1, seed=9, loras=(styled,)), sd_spec)
    assert max_diff(with_lora.images[0].image, reference.images[0].image) <= BATCH_TOLERANCE
