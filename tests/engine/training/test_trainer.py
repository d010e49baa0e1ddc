"""The LoRA trainer on the real tiny engine: it learns, stops, resumes exactly, and its files load elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from engine.errors import EngineError, OutOfMemory, Stopped
from engine.host import EngineConfig, EngineHost
from engine.tasks import train
from engine.training import checkpoint
from engine.training.trainer import Trainer
from engine.work import WorkOrder
from tests.engine.training_support import context, eval_loss, image_with_lora, make_task, planted_images, run_training

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def host(manager) -> EngineHost:
    return EngineHost(EngineConfig(embedder="tiny-clip"), manager_factory=lambda: manager)


def _with_lora(manager, spec, path: Path, scale: float):
    from engine.types import LoraSpec

    pipe = manager.pipeline(spec)
    manager.loras(spec).activate([LoraSpec("zzchar", path, spec.family, scale)] if path else [])
    return pipe


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_a_run_lowers_the_loss_and_its_lora_changes_the_images(host, manager, tmp_path, model) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set"), model, steps=24, learning_rate=1e-2)
    spec = task.model
    pipe = manager.pipeline(spec)
    manager.loras(spec).activate([])
    before = eval_loss(pipe, task)
    events = []
    outcome, _ = run_training(host, task, events)
    assert outcome.steps_done == 24 and len(outcome.losses) == 24 and not outcome.stopped
    assert [c.step for c in outcome.checkpoints] == [6, 12, 18, 24]
    # Every checkpoint keeps its LoRA; only the newest keeps the optimizer state (twice the LoRA's size).
    folders = sorted(task.run_dir.glob("ckpt-*"))
    assert [(f / checkpoint.LORA).is_file() for f in folders] == [True] * 4
    assert [(f / checkpoint.OPTIMIZER).is_file() for f in folders] == [False, False, False, True]
    # Progress: every step, with its loss and speed.
    assert [e.step for e in events] == list(range(1, 25)) and "loss " in events[-1].detail
    assert "samples/s" in events[-1].detail
    # The training adapter is gone from the pipeline once the run is over: generation is as before.
    assert "job_7" not in (getattr(pipe.unet, "peft_config", None) or {})
    base = image_with_lora(manager, spec, None)
    _with_lora(manager, spec, outcome.lora.path, 1.0)
    after = eval_loss(pipe, task)
    manager.loras(spec).activate([])
    assert after < before * 0.95, (before, after)
    trained = image_with_lora(manager, spec, outcome.lora.path, 1.0)
    assert np.abs(trained - base).max() > 0.01
    np.testing.assert_array_equal(image_with_lora(manager, spec, outcome.lora.path, 0.0), base)


def test_both_exports_load_back_into_a_pipeline_with_identical_images_and_their_metadata(
    host, manager, tmp_path
) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set"), steps=6)
    outcome, _ = run_training(host, task)
    spec = task.model
    base = image_with_lora(manager, spec, None)
    from_diffusers = image_with_lora(manager, spec, outcome.lora.path)
    from_kohya = image_with_lora(manager, spec, outcome.kohya.path)
    assert np.abs(from_diffusers - base).max() > 0.01
    # The kohya file is fp16 (trainer notes §4.2: about 2.4e-4 apart): at most one level of 255 here.
    # alpha ≠ rank survives in both (lost, the image would move as far as the LoRA moves it).
    assert np.abs(from_diffusers - from_kohya).max() <= 1 / 255 + 1e-9
    for path in (outcome.lora.path, outcome.kohya.path):
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        for key in (
            "ss_base_model_version",
            "ss_network_module",
            "ss_network_dim",
            "ss_network_alpha",
            "ss_output_name",
            "ss_steps",
            "ss_resolution",
            "ss_tag_frequency",
            "sshs_model_hash",
            "modelspec.architecture",
            "modelspec.title",
            "modelspec.trigger_phrase",
            "modelspec.date",
            "modelspec.hash_sha256",
        ):
            assert meta.get(key), (path.name, key)
        assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] == "2.0"
        assert meta["ss_steps"] == "6" and meta["modelspec.trigger_phrase"] == "zzchar"
        assert "zzchar" in json.loads(meta["ss_tag_frequency"])["1_zzchar"]
        assert meta["studio.set"] == "1"
    with safe_open(str(outcome.kohya.path), "pt") as f:
        keys = list(f.keys())
        alphas = {f.get_tensor(k).item() for k in keys if k.endswith(".alpha")}
    assert all(k.startswith("lora_unet_") for k in keys) and alphas == {2.0}


@pytest.mark.parametrize(("model", "prior"), [("tiny-sd", 0), ("tiny-sdxl", 0), ("tiny-sd", 3)])
def test_a_kill_during_the_run_resumes_from_its_checkpoint_with_the_same_losses(tmp_path, model, prior) -> None:
    """A subprocess trains and is killed with SIGKILL after step 5; a second one finishes the run (with prior
    preservation too: the resumed run trains on the prior images the killed one drew)."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, json
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        import torch
        torch.set_num_threads(1)
        from engine.host import EngineConfig, EngineHost
        from engine.diffusion.pipelines import PipelineManager
        from engine.tasks import train
        from engine.work import WorkOrder
        from tests.engine.training_support import context, make_task, planted_images

        run_dir, kill_at = Path(sys.argv[1]), int(sys.argv[2])
        manager = PipelineManager("cpu", cache_dir=Path(sys.argv[3]))
        host = EngineHost(EngineConfig(), manager_factory=lambda: manager)
        task = make_task(run_dir, planted_images(run_dir.parent / "set"), sys.argv[4], steps=8, checkpoint_every=2,
                         prior_images=int(sys.argv[5]))

        def on_event(event):
            if event.step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        ctx, _ = context(on_event=on_event)
        outcome = train.run(WorkOrder(7, "train", task), ctx, host)
        print(json.dumps({{"losses": list(outcome.losses), "resumed_at": outcome.resumed_at}}))
        """
    )
    (tmp_path / "run.py").write_text(script)
    env = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cache = tmp_path / "models"

    def run(folder: str, kill_at: int) -> subprocess.CompletedProcess[str]:
        args = [
            sys.executable,
            str(tmp_path / "run.py"),
            str(tmp_path / folder / "run"),
            str(kill_at),
            str(cache),
            model,
            str(prior),
        ]
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)

    killed = run("a", 5)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert checkpoint.latest(tmp_path / "a" / "run").name == "ckpt-000004"
    drawn = sorted((tmp_path / "a" / "run" / "prior").glob("*.png"))
    assert len(drawn) == prior
    before = [p.stat().st_mtime_ns for p in drawn]
    resumed = run("a", 0)
    whole = run("b", 0)
    assert resumed.returncode == 0 and whole.returncode == 0, resumed.stderr[-2000:] + whole.stderr[-2000:]
    resumed_out = json.loads(resumed.stdout.strip().splitlines()[-1])
    whole_out = json.loads(whole.stdout.strip().splitlines()[-1])
    assert resumed_out["resumed_at"] == 4 and whole_out["resumed_at"] is None
    assert [p.stat().st_mtime_ns for p in drawn] == before  # read back, not drawn again
    assert resumed_out["losses"] == whole_out["losses"] and len(whole_out["losses"]) == 8


def test_cancel_saves_a_checkpoint_whose_lora_loads(host, manager, tmp_path) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set"), steps=20, checkpoint_every=8)
    cancel_holder = {}

    def on_event(event):
        if event.step == 3:
            cancel_holder["flag"].set()

    ctx, cancel = context(on_event=on_event)
    cancel_holder["flag"] = cancel
    with pytest.raises(Stopped) as stopped:
        train.run(WorkOrder(7, "train", task), ctx, host)
    outcome = stopped.value.outcome
    assert outcome.stopped and outcome.steps_done == 3 and [c.step for c in outcome.checkpoints] == [3]
    assert checkpoint.latest(task.run_dir).name == "ckpt-000003"
    with safe_open(str(outcome.lora.path), "pt") as f:
        assert f.metadata()["ss_steps"] == "3"
    image = image_with_lora(manager, task.model, outcome.lora.path)
    assert np.abs(image - image_with_lora(manager, task.model, None)).max() > 0.0


def test_a_nan_loss_stops_the_run_with_the_precision_to_use(host, tmp_path, monkeypatch) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set", 2), steps=3)
    monkeypatch.setattr(Trainer, "_loss", lambda self, data, batch: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(EngineError, match=r"NaN at step 1: lower the learning rate \(now 0.002\) or the rank"):
        run_training(host, task)


def test_out_of_memory_says_which_settings_fit(host, tmp_path, monkeypatch) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set", 2), steps=3, batch_size=4)

    def oom(self, data, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "_loss", oom)
    with pytest.raises(OutOfMemory, match=r"batch 4.*batch 1 with gradient accumulation 4.*gradient checkpointing"):
        run_training(host, task)
    # What is already set is not suggested again.
    small = make_task(tmp_path / "run2", task.items, steps=3, batch_size=1, gradient_checkpointing=True, rank=8)
    with pytest.raises(OutOfMemory) as error:
        run_training(host, small)
    assert str(error.value) == (
        "Out of GPU memory at 64px, batch 1. Try a lower resolution (now 64px) or rank (now 8)."
    )


def test_a_cancel_after_the_last_step_keeps_the_finishedrun_training(host, tmp_path) -> None:
    task = make_task(tmp_path / "run", planted_images(tmp_path / "set", 2), steps=3)
    holder = {}

    def on_event(event):
        if event.step == 3:
            holder["flag"].set()  # the cancel lands while the run saves and exports

    ctx, cancel = context(on_event=on_event)
    holder["flag"] = cancel
    with pytest.raises(Stopped) as stopped:
        train.run(WorkOrder(7, "train", task), ctx, host)
    outcome = stopped.value.outcome
    assert not outcome.stopped and outcome.steps_done == 3 and outcome.lora.path.is_file()


def test_a_file_that_mixes_key_styles_loads_every_layer() -> None:
    """diffusers guesses a file's key style from its first key: a feed-forward key first hid the attention layers."""
    from engine.diffusion.lora import one_key_style

    mixed = {
        "unet.a.ff.net.2.lora_A.weight": 1,
        "unet.a.attn1.to_q.lora.down.weight": 2,
        "unet.a.attn1.to_q.lora.up.weight": 3,
    }
    assert one_key_style(mixed) == {
        "unet.a.ff.net.2.lora_A.weight": 1,
        "unet.a.attn1.to_q.lora_A.weight": 2,
        "unet.a.attn1.to_q.lora_B.weight": 3,
    }
    old_only = {"unet.a.attn1.to_q.lora.down.weight": 2}
    assert one_key_style(old_only) is old_only
