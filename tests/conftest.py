"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_manager(tmp_path_factory: pytest.TempPathFactory):
    """One pipeline manager for the whole session: building the tiny models costs more than using them."""
    from engine.pipelines import PipelineManager

    return PipelineManager(device="cpu", cache_dir=tmp_path_factory.mktemp("models"))
