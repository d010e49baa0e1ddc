"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest

# One torch thread: the tiny models gain nothing from two, and on a shared 2-core machine two OpenMP
# threads that spin-wait for each other made the engine-backed tests about five times slower.
# Set before torch is imported (OpenMP reads it once); an explicit setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_manager(tmp_path_factory: pytest.TempPathFactory):
    """One pipeline manager for the whole session: building the tiny models costs more than using them."""
    from engine.pipelines import PipelineManager

    return PipelineManager(device="cpu", cache_dir=tmp_path_factory.mktemp("models"))
