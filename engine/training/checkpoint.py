"""Checkpoints that resume a run exactly: LoRA, optimizer state, RNG states and step; no pickle anywhere.

Trainer notes §2: the resumed run is bitwise identical only with all four (leaving any one out changed the
losses). Tensors go to .safetensors, the rest to JSON, so loading a checkpoint can never run code. A
checkpoint is written to `ckpt-N.tmp/` and renamed to `ckpt-N/` when complete: a kill during the save
leaves the previous one intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE = "state.json"
LORA = "lora.safetensors"
OPTIMIZER = "optimizer.safetensors"
RNG = "rng.safetensors"


@dataclass
class Resumed:
    step: int
    losses: list[float]
    lora: dict[str, torch.Tensor]


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / f"ckpt-{step:06d}"


def latest(run_dir: Path) -> Path | None:
    """The newest checkpoint a run can resume from (complete, its optimizer state kept), or None."""
    if not run_dir.is_dir():
        return None
    done = sorted(
        p
        for p in run_dir.glob("ckpt-*")
        if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE).is_file() and (p / OPTIMIZER).is_file()
    )
    return done[-1] if done else None


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"scalars": scalars, "param_groups": state["param_groups"]}


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    # Matched by position, not by name: the parameters must be in the order they were when saved.
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save(
    run_dir: Path,
    step: int,
    lora: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    losses: list[float],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of `step` atomically; returns its folder."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in lora.items()}, str(tmp / LORA))
    tensors, meta = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / OPTIMIZER))
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        for n, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda{n}"] = cuda_state
    save_file(rng, str(tmp / RNG))
    numpy_state = np.random.get_state(legacy=True)
    assert isinstance(numpy_state, tuple)  # the legacy form of the global Mersenne Twister: a tuple
    state = {
        "step": step,
        "losses": losses,
        "optimizer": meta,
        "python_random": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy_random": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        **(extra or {}),
    }
    (tmp / STATE).write_text(json.dumps(state), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _keep_lora_only(run_dir, final)
    return final


def _keep_lora_only(run_dir: Path, newest: Path) -> None:
    """Earlier checkpoints keep their LoRA and samples (to be chosen later) but not the optimizer state, which
    is twice the LoRA's size and only the newest checkpoint needs to resume."""
    for folder in run_dir.glob("ckpt-*"):
        if folder != newest and not folder.name.endswith(".tmp") and folder.name < newest.name:
            for name in (OPTIMIZER, RNG):
                (folder / name).unlink(missing_ok=True)


def load(path: Path, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> Resumed:
    """Restore the optimizer, the RNG states and the generator; returns the step, losses and LoRA tensors."""
    state = json.loads((path / STATE).read_text(encoding="utf-8"))
    _restore_optimizer(optimizer, load_file(str(path / OPTIMIZER)), state["optimizer"])
    rng = load_file(str(path / RNG))
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["generator"])
    if torch.cuda.is_available():
        cuda = [rng[f"cuda{n}"] for n in range(torch.cuda.device_count()) if f"cuda{n}" in rng]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = state["python_random"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy_random"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    return Resumed(int(state["step"]), [float(x) for x in state["losses"]], load_file(str(path / LORA)))
