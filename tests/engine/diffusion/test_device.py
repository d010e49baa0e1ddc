"""Device and dtype choice, and the memory plan."""

from __future__ import annotations

import itertools
import logging

import pytest
import torch
from diffusers import AutoencoderKL

from engine.diffusion.device import (
    DeviceError,
    MemoryPlan,
    apply_memory_plan,
    choose_device,
    choose_dtype,
    plan_memory,
)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.usefixtures("gpu")
@pytest.mark.parametrize(
    ("setting", "expected"), [("auto", "cuda"), ("CUDA", "cuda"), ("cuda:1", "cuda:1"), ("cpu", "cpu")]
)
def test_choose_device_with_a_gpu(setting: str, expected: str) -> None:
    assert choose_device(setting) == expected


@pytest.mark.usefixtures("no_gpu")
def test_choose_device_without_a_gpu() -> None:
    assert choose_device("auto") == "cpu"
    assert choose_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        choose_device("cuda")


@pytest.mark.usefixtures("no_gpu")
def test_cuda_without_a_gpu_is_an_engine_error_naming_the_setting_and_the_fix(tmp_path) -> None:
    """An engine error's message crosses the job queue to the user; any other error becomes 'logged for the admins'."""
    from engine.errors import EngineError
    from engine.host import EngineConfig, EngineHost

    host = EngineHost(EngineConfig(device="cuda", cache_dir=tmp_path))
    with pytest.raises(EngineError) as failed:
        host.manager()
    assert failed.value.user_message == (
        "STUDIO_DEVICE=cuda but torch sees no CUDA GPU (a CPU build of torch, or no driver?): "
        "set STUDIO_DEVICE=auto or cpu"
    )


@pytest.mark.usefixtures("gpu")
def test_choose_device_rejects_bad_settings() -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        choose_device("tpu")
    with pytest.raises(DeviceError, match="2 GPU"):
        choose_device("cuda:5")


def test_auto_follows_this_machine() -> None:
    assert choose_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_choose_dtype_on_cuda(monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: torch.dtype) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert choose_dtype("cuda") == expected
    assert choose_dtype("cuda:1") == expected


def test_choose_dtype_on_cpu() -> None:
    assert choose_dtype("cpu") == torch.float32


SD15, SDXL = 2.2, 7.0  # GB of fp16 weights


@pytest.mark.parametrize(
    ("model", "free", "size", "count", "slicing", "tiling", "offload"),
    [
        (SD15, 24.0, 512, 4, False, False, "none"),
        (SD15, 5.0, 512, 4, True, False, "none"),
        (SD15, 3.5, 512, 1, False, True, "model"),
        (SD15, 2.0, 512, 1, False, True, "sequential"),
        (SDXL, 12.0, 1024, 1, False, False, "none"),
        (SDXL, 10.0, 1024, 1, False, True, "none"),
        (SDXL, 16.0, 1024, 4, True, False, "none"),
        (SDXL, 11.5, 1024, 4, True, True, "none"),
        (SDXL, 8.0, 1024, 1, False, True, "model"),
        (SDXL, 9.0, 1024, 4, True, True, "model"),
        (SDXL, 4.0, 1024, 1, False, True, "sequential"),
    ],
)
def test_plan_memory_table(
    model: float, free: float, size: int, count: int, slicing: bool, tiling: bool, offload: str
) -> None:
    plan = plan_memory(model, free, size, size, count)
    assert (plan.vae_slicing, plan.vae_tiling, plan.cpu_offload) == (slicing, tiling, offload)
    assert f"{free:.1f} GB" in plan.reason


def test_unknown_free_memory_means_no_savers() -> None:
    plan = plan_memory(SDXL, None, 1024, 1024, 8)
    assert plan == MemoryPlan(reason=plan.reason)
    assert "unknown" in plan.reason


def test_less_memory_never_gives_a_lighter_plan() -> None:
    frees = [x / 4 for x in range(1, 240)]  # up to 60 GB
    for model, size, count in itertools.product((SD15, SDXL), (512, 768, 1024), (1, 2, 4, 8)):
        levels = [plan_memory(model, free, size, size, count).level for free in frees]
        assert levels == sorted(levels, reverse=True), (model, size, count)
        assert levels[0] == 4
        assert levels[-1] == 0


def test_more_images_never_give_a_lighter_plan() -> None:
    levels = [plan_memory(SDXL, 12.0, 1024, 1024, count).level for count in range(1, 9)]
    assert levels == sorted(levels)
    assert levels[0] < levels[-1]


@pytest.mark.parametrize(
    "args", [(-1.0, 8.0, 512, 512, 1), (2.0, -1.0, 512, 512, 1), (2.0, 8.0, 0, 512, 1), (2.0, 8.0, 512, 512, 0)]
)
def test_plan_memory_rejects_nonsense(args: tuple) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message names the bad argument
        plan_memory(*args)


class _OffloadRecorder:
    """A pipe with a real tiny VAE; offload calls are recorded since they need a GPU."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.vae = AutoencoderKL(
            block_out_channels=[8],
            down_block_types=["DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D"],
            latent_channels=4,
            norm_num_groups=8,
        )
        self.calls: list[tuple[str, str | None]] = []

    def enable_model_cpu_offload(self, device: str) -> None:
        self.calls.append(("model", device))

    def enable_sequential_cpu_offload(self, device: str) -> None:
        self.calls.append(("sequential", device))

    def remove_all_hooks(self) -> None:
        self.calls.append(("remove", None))


def test_apply_memory_plan_toggles_the_vae_and_installs_offload(caplog: pytest.LogCaptureFixture) -> None:
    pipe = _OffloadRecorder()
    caplog.set_level(logging.INFO, logger="engine.diffusion.device")

    apply_memory_plan(pipe, MemoryPlan(vae_slicing=True, vae_tiling=True, reason="tight"))
    assert (pipe.vae.use_slicing, pipe.vae.use_tiling) == (True, True)
    assert pipe.calls == []
    assert "tight" in caplog.text

    apply_memory_plan(pipe, MemoryPlan(reason="roomy"))
    assert (pipe.vae.use_slicing, pipe.vae.use_tiling) == (False, False)

    apply_memory_plan(pipe, MemoryPlan(cpu_offload="model", reason="short"), device="cuda:1")
    apply_memory_plan(pipe, MemoryPlan(cpu_offload="model", reason="short"))
    assert pipe.calls == [("model", "cuda:1")]

    apply_memory_plan(pipe, MemoryPlan(cpu_offload="sequential", reason="very short"))
    assert pipe.calls == [("model", "cuda:1"), ("remove", None), ("sequential", "cuda")]

    apply_memory_plan(pipe, MemoryPlan(reason="roomy again"))
    assert pipe.calls[-1] == ("sequential", "cuda"), "offload is never removed"
    assert "Keeping sequential" in caplog.text
