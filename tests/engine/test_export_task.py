"""Exporting a checkpoint is an engine task: a plain order in, the two files out; the services never import it."""

from __future__ import annotations

import ast
import pickle
import threading
from pathlib import Path

import pytest

from engine.backends import WorkContext
from engine.errors import EngineError
from engine.host import EngineHost
from engine.training.types import TrainConfig
from engine.work import ExportTask, WorkOrder

ROOT = Path(__file__).resolve().parents[2]


def _order(tmp_path: Path) -> WorkOrder:
    task = ExportTask(tmp_path / "step-4.safetensors", tmp_path / "mila.safetensors", "mila", 4, TrainConfig(4), "sd15")
    return WorkOrder(9, "export", task, out_dir=tmp_path / "export-4")


def test_an_export_order_is_plain_data(tmp_path: Path) -> None:
    order = _order(tmp_path)
    assert pickle.loads(pickle.dumps(order)) == order


def test_a_missing_checkpoint_fails_in_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    ctx = WorkContext(9, threading.Event(), lambda event: None)
    with pytest.raises(EngineError, match=r"checkpoint's LoRA \(step-4.safetensors\) is missing.*another checkpoint"):
        EngineHost().run(_order(tmp_path), ctx)


def test_the_services_never_import_the_exporter() -> None:
    """The exporter needs torch: the core reaches it only as the `export` task, through the backend."""
    found = []
    for path in (ROOT / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine.training.export"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
