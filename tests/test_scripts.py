"""The benchmark scripts still run: a lent GPU's minutes are too few to find a script broken there.

Each runs its CPU smoke mode (tiny models, one repeat) in a subprocess, as a user would start it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_the_flux_benchmark_runs_every_level_it_can() -> None:
    out = _run("scripts/bench_flux.py", "--tiny", "--repeats", "1")
    assert "engine eager" in out and "engine/plain" in out and "engine compiled" in out and "× plain eager" in out
    assert "fp8+compile: skipped, fp8 compute needs a CUDA GPU" in out  # the GPU-only row says why it is absent


@pytest.mark.slow
def test_the_zimage_benchmark_runs_and_says_what_needs_a_gpu() -> None:
    out = _run("scripts/bench_zimage.py", "--tiny", "--repeats", "1")
    assert "engine eager" in out and "plain eager" in out and "engine compiled" in out
    assert "16 GB card plan (model offload): skipped, offload needs a CUDA GPU" in out


@pytest.mark.slow
def test_the_qwen_benchmark_runs_and_says_what_needs_a_gpu() -> None:
    out = _run("scripts/bench_qwen.py", "--tiny", "--repeats", "1")
    assert "2 steps × 2 (true CFG 4)" in out and "engine eager" in out and "plain eager" in out
    assert "engine compiled" in out and "memory plan check: skipped, peak memory needs a CUDA GPU" in out


@pytest.mark.slow
def test_the_klein_benchmark_times_generation_and_edits_from_one_and_two_references() -> None:
    out = _run("scripts/bench_flux2.py", "--tiny", "--repeats", "1")
    for case in ("txt2img", "1 reference", "2 references"):
        assert f"engine eager    {case}" in out and f"engine compiled {case}" in out
    assert out.count("engine/plain") == 3


@pytest.mark.slow
def test_the_flux_training_benchmark_trains_and_compares_with_the_plan() -> None:
    out = _run("scripts/bench_flux_train.py", "--tiny", "--steps", "4", "--warmup", "1")
    assert out.count("samples/s") == 2 and "plan's estimate" in out and "loss " in out


@pytest.mark.slow
def test_the_engine_benchmark_runs_on_a_tiny_model() -> None:
    out = _run("scripts/bench_engine.py", "--model", "tiny-flux", "--repeats", "1", "--count", "1", "--steps", "1")
    assert "engine/plain" in out


def test_the_quantization_error_benchmark_ranks_the_formats() -> None:
    out = _run("scripts/bench_quant_error.py", "--stds", "0.02")
    # "weights std 0.02: fp8 storage 3.31%, int8 per row 0.86%, nf4 (bnb) 9.21%"
    parts = (part.rsplit(" ", 1) for part in out.strip().split(": ", 1)[1].split(", "))
    values = {name: float(value.rstrip("%")) for name, value in parts}
    assert values["int8 per row"] < values["fp8 storage"]


def test_the_gpu_session_script_parses() -> None:
    for script in ("scripts/gpu_bench.sh", "scripts/gpu_wheels.sh"):
        assert subprocess.run(["bash", "-n", script], cwd=ROOT, check=False).returncode == 0


@pytest.mark.slow
def test_the_tiny_world_lora_benchmark_trains_with_studio_train_and_reads_the_scales() -> None:
    out = _run(
        "scripts/bench_tiny_world_lora.py", "--steps", "2", "--images", "6", "--prompts", "1", "--others", "1",
    )  # fmt: skip
    assert "training zorps: read as zorps 1.00" in out and "studio train: 2 steps" in out
    assert "zorp rate by LoRA scale" in out and "0: 0.00" in out and "with the LoRA at 1.0" in out


def test_the_gallery_benchmark_times_every_query() -> None:
    out = _run("scripts/bench_gallery.py", "--images", "400", "--repeats", "1")
    assert "400 images stored" in out and out.count(" ms (median of 1)") == 8


@pytest.mark.slow
def test_the_web_benchmark_serves_its_load() -> None:
    out = _run("scripts/bench_web.py", "--requests", "40", "--concurrency", "4")
    assert "40 requests (5 kinds, 4 at a time)" in out and ", 0 failed" in out and "heartbeat every 20 ms" in out


@pytest.mark.slow
def test_the_web_interactions_benchmark_floods_the_bot_with_and_without_the_web_load() -> None:
    out = _run(
        "scripts/bench_web_interactions.py", "--commands", "6", "--members", "3", "--rounds", "1",
        "--repeats", "1", "--concurrency", "3", "--spreads", "10,0",
    )  # fmt: skip
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| one every") or "| all at" in line]
    assert [(row[0], row[1]) for row in rows] == [
        ("| one every 10 ms", "none"), ("| one every 10 ms", "3 at a time"),
        ("| all at once", "none"), ("| all at once", "3 at a time"),
    ]  # fmt: skip
    for row in rows:  # p50 <= p99 <= max, each a figure; the loaded rows served requests, none failed
        p50, p99, most = (float(cell) for cell in row[2:5])
        assert p50 <= p99 <= most
        if row[1] == "none":
            assert row[5:] == ["–", "– |"]
        else:
            assert float(row[5]) > 0 and row[6] == "0 |"


@pytest.mark.slow
def test_the_tiny_world_lora_grid_trains_both_loras_and_writes_the_figure(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "grid.png"
    printed = _run("scripts/make_tiny_world_lora_grid.py", "--steps", "2", "--seeds", "1", "--out", str(out))
    assert printed.count("trained ") == 2 and "wrote " in printed
    with Image.open(out) as figure:  # two panels of 4 scales; 2 rows (a prompt with the trigger, one without)
        assert figure.width > 8 * 96 and figure.height > 2 * 96
