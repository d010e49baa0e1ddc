"""The engine's public face (engine/__init__.py): every name resolves, and importing it loads no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "transformers", "peft", "ray")

_IMPORT_ENGINE = """
import json, sys
import engine
first = sorted(m for m in {heavy!r} if m in sys.modules)
engine.with_trigger, engine.load_image, engine.RayBackend  # lazy names that need no torch
print(json.dumps([first, sorted(m for m in {heavy!r} if m in sys.modules)]))
"""


def test_importing_the_face_loads_no_torch() -> None:
    # A fresh interpreter: this test session has imported torch already.
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_ENGINE.format(heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == [[], []]


def test_every_name_of_the_face_resolves() -> None:
    missing = [name for name in engine.__all__ if getattr(engine, name, None) is None]
    assert missing == []
    assert len(set(engine.__all__)) == len(engine.__all__)
    assert set(engine.__all__) <= set(dir(engine))


def test_a_lazy_name_is_the_object_its_module_defines() -> None:
    from engine.diffusion.device import memory_and_precision
    from engine.prompting.text import with_trigger

    assert engine.with_trigger is with_trigger
    assert engine.memory_and_precision is memory_and_precision
    for name, module in engine._LAZY.items():
        assert name in engine.__all__, f"{name} loads lazily but is not in __all__"
        assert getattr(engine, name) is getattr(sys.modules[module], name)


def test_a_name_outside_the_face_says_where_to_look() -> None:
    with pytest.raises(AttributeError, match=r"no attribute 'PipelineManager': the face is engine/__init__.py"):
        _ = engine.PipelineManager
