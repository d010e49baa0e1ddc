"""The core's device check before a command queues engine work: a missing GPU is one line; `auto` loads no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.device import check_device

ROOT = Path(__file__).resolve().parents[2]


def test_asking_for_a_gpu_on_a_machine_without_one_says_what_to_set() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from engine.diffusion.device import DeviceError

    with pytest.raises(DeviceError, match=r"STUDIO_DEVICE=cuda but torch sees no CUDA GPU.*set STUDIO_DEVICE=auto"):
        check_device("cuda")


def test_auto_and_cpu_pass_without_loading_torch() -> None:
    # A fresh interpreter: this test session may have imported torch already.
    code = (
        "import json, sys; from studio.device import check_device; "
        "check_device('auto'); check_device(' CPU '); print(json.dumps('torch' in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) is False
