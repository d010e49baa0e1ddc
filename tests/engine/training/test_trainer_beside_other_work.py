"""The LoRA trainer beside other work: its checkpoint samples and consistency scores, generations that share its
pipeline mid-run, and a LoRA on the text encoder that stays out of other jobs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from engine.errors import Stopped
from engine.host import EngineConfig, EngineHost
from engine.tasks import train
from engine.work import WorkOrder
from tests.engine.training_support import context, image_with_lora, make_task, planted_images, run_training

pytestmark = pytest.mark.slow


@pytest.fixture
def host(manager) -> EngineHost:
    return EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: manager)


def test_samples_and_consistency_scores_come_with_each_checkpoint(host, tmp_path) -> None:
    task = make_task(
        tmp_path / "run",
        planted_images(tmp_path / "set", 4),
        steps=4,
        checkpoint_every=2,
        sample_prompts=("zzchar, portrait", "zzchar, full body"),
    )
    events = []
    outcome, _ = run_training(host, task, events)
    assert "consistency" not in events[0].detail and ", consistency " in events[2].detail  # from the first checkpoint
    assert events[2].detail.endswith("at step 2")
    assert outcome.loss_plot is not None and outcome.loss_plot.path.is_file()
    from PIL import Image

    with Image.open(outcome.scales.path) as grid:  # 0.8, 1.0 and 1.2 side by side
        assert grid.size == (3 * 64, 64)
    for saved in outcome.checkpoints:
        assert saved.samples is not None and saved.samples.path.is_file()
        assert saved.consistency is not None and -1.0 <= saved.consistency <= 1.0
        assert saved.likeness is not None and -1.0 <= saved.likeness <= 1.0


def test_the_consistency_score_tells_a_consistent_set_from_a_mixed_one(host) -> None:
    from PIL import Image

    from engine.training.samples import consistency_scores

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 64, 3))
    same = [Image.fromarray((base + rng.normal(0, 4, base.shape)).clip(0, 255).astype(np.uint8)) for _ in range(4)]
    mixed = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(4)]
    embedder = host.embedder()
    centre = embedder.embed(same).mean(axis=0)
    consistent, close = consistency_scores(embedder.embed(same), centre)
    varied, far = consistency_scores(embedder.embed(mixed), centre)
    assert consistent > varied and close > far
    assert consistent > 0.99


async def test_a_generation_submitted_during_a_run_is_delivered_and_the_run_stays_exact(host, tmp_path) -> None:
    """Training and generation share one pipeline and one thread: the image comes between two steps."""
    import asyncio

    from engine.backends import ThreadBackend
    from engine.types import GenerateRequest
    from engine.work import GenerateTask

    items = planted_images(tmp_path / "set")
    alone = make_task(tmp_path / "alone", items, steps=10)
    ctx, _ = context()
    expected = await asyncio.to_thread(train.run, WorkOrder(7, "train", alone), ctx, host)

    backend = ThreadBackend(host)
    try:
        task = make_task(tmp_path / "shared", items, steps=10)
        training = backend.submit(WorkOrder(7, "train", task), "batch")
        async for event in training.events():
            if event.step >= 2:
                break
        request = GenerateRequest(prompt="a red boat", model="tiny-sd", count=1, seed=4, steps=2)
        generation = backend.submit(
            WorkOrder(8, "generate", GenerateTask(request, task.model), {}, tmp_path / "gen"), "interactive"
        )
        image = await generation.result()
        assert not training.done()  # delivered between two steps, not after the run
        assert image.images[0].file.path.is_file()
        outcome = await training.result()
    finally:
        await backend.shutdown()
    assert outcome.losses == expected.losses


def test_the_text_encoder_can_train_too_and_stays_out_of_other_jobs(host, manager, tmp_path) -> None:
    """A LoRA on SD 1.5's text encoder beside the UNet's: its files load back, and generations between two
    steps see neither (diffusers does not know the injected adapter: the trainer switches it off itself)."""
    import asyncio

    from safetensors.torch import load_file

    from engine.backends import ThreadBackend
    from engine.types import GenerateRequest
    from engine.work import GenerateTask

    task = make_task(
        tmp_path / "run", planted_images(tmp_path / "set", 4), steps=6, train_text_encoder=True, learning_rate=1e-2
    )
    spec = task.model
    base = image_with_lora(manager, spec, None)

    async def interleaved():
        backend = ThreadBackend(host)
        try:
            training = backend.submit(WorkOrder(7, "train", task), "batch")
            async for event in training.events():
                if event.step >= 2:
                    break
            request = GenerateRequest(prompt="zzchar, a round figure", model="tiny-sd", count=1, seed=5, steps=2)
            order = WorkOrder(8, "generate", GenerateTask(request, spec), {}, tmp_path / "gen")
            during = await backend.submit(order, "interactive").result()
            return during, await training.result()
        finally:
            await backend.shutdown()

    during, outcome = asyncio.run(interleaved())
    with Image.open(during.images[0].file.path) as png:
        np.testing.assert_array_equal(np.asarray(png.convert("RGB"), dtype=np.float64) / 255, base)
    tensors = load_file(str(outcome.lora.path))
    assert any(k.startswith("text_encoder.encoder.layers.") for k in tensors)
    kohya = load_file(str(outcome.kohya.path))
    assert any(k.startswith("lora_te_text_model_encoder_layers_") for k in kohya)
    with safe_open(str(outcome.lora.path), "pt") as f:
        assert f.metadata()["ss_network_train_unet_only"] == "False"
    # Both files give the same image, and the text encoder's LoRA matters: without it the image differs.
    from_diffusers = image_with_lora(manager, spec, outcome.lora.path)
    assert np.abs(from_diffusers - image_with_lora(manager, spec, outcome.kohya.path)).max() <= 1 / 255 + 1e-9
    unet_only = tmp_path / "unet_only.safetensors"
    from safetensors.torch import save_file

    save_file({k: v for k, v in tensors.items() if k.startswith("unet.")}, str(unet_only), metadata=f_meta(outcome))
    assert np.abs(from_diffusers - image_with_lora(manager, spec, unet_only)).max() > 0.0
    # The pipeline's text encoder is as it was once the run is over.
    assert np.array_equal(image_with_lora(manager, spec, None), base)


def f_meta(outcome) -> dict[str, str]:
    with safe_open(str(outcome.lora.path), "pt") as f:
        return dict(f.metadata())


def test_a_run_with_the_text_encoder_resumes_exactly(host, tmp_path) -> None:
    items = planted_images(tmp_path / "set", 4)
    options = {"steps": 6, "checkpoint_every": 2, "train_text_encoder": True}
    whole, _ = run_training(host, make_task(tmp_path / "whole", items, **options))
    task = make_task(tmp_path / "parts", items, **options)
    holder = {}

    def on_event(event):
        if event.step == 3:
            holder["flag"].set()

    ctx, cancel = context(on_event=on_event)
    holder["flag"] = cancel
    with pytest.raises(Stopped):
        train.run(WorkOrder(7, "train", task), ctx, host)
    resumed, _ = run_training(host, task)
    assert resumed.resumed_at == 3 and resumed.losses == whole.losses
