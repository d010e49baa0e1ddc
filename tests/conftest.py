"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

# Fixtures that build the real engine's tiny models: a test that uses one is `slow` (see pyproject.toml).
SLOW_FIXTURES = frozenset({"tiny_manager", "manager", "tiny_cache", "captioner", "segmenter", "tiny"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cuda = None
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("gpu") is not None:
            if cuda is None:
                import torch

                cuda = torch.cuda.is_available()
            if not cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


# One torch thread: the tiny models gain nothing from two, and on a shared 2-core machine two OpenMP
# threads that spin-wait for each other made the engine-backed tests about five times slower.
# Set before torch is imported (OpenMP reads it once); an explicit setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_manager(tmp_path_factory: pytest.TempPathFactory):
    """One pipeline manager for the whole session: building the tiny models costs more than using them."""
    from engine.diffusion.pipelines import PipelineManager

    return PipelineManager(device="cpu", cache_dir=tmp_path_factory.mktemp("models"))


# Variables of the machine that would change what a `studio` command does in a test.
STUDIO_ENV = ("DISCORD_TOKEN", "STUDIO_DATA_DIR", "STUDIO_DEFAULT_MODEL", "STUDIO_DEV_GUILD_ID", "STUDIO_BACKEND")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Runs `studio --data-dir <tmp>/data ARGS` in-process on the CPU (the engine on a thread), with no stray `.env`
    or variable read."""
    monkeypatch.chdir(tmp_path)
    for name in STUDIO_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    # Pinned: the CLI tests draw with the 4-step tiny-sd unless they name a model (the default, tiny-world, takes
    # 20 steps); tests of the default itself unset it.
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "tiny-sd")
    # The engine on a thread of this process, where torch is loaded once for the session: an engine process per
    # command loads it again each time (the CLI tests took twice as long). The process backend has its own tests.
    monkeypatch.setenv("STUDIO_BACKEND", "thread")
    from cli.main import cli  # the CLI, imported only by the tests that run it

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), *args], catch_exceptions=False)

    return invoke
