"""`studio generate -m tiny-qwen`: the command line runs the Qwen-Image family like any other, negative prompt
included (its true CFG reads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.mark.slow  # the CLI runs the real engine on tiny-qwen
def test_generate_on_qwen_writes_images_with_its_guidance_and_negative_prompt(run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("generate", "a neon sign that says BAR", "-n", "2", "-m", "tiny-qwen", "--seed", "5", "--steps", "2",
                 "--negative", "blurry", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("*_seed*.png"))
    assert [p.name.split("_seed")[1] for p in pngs] == ["5.png", "6.png"]
    with Image.open(pngs[0]) as img:
        text = img.info["parameters"]
        assert "Model: tiny-qwen" in text and "CFG scale: 4" in text and "Negative prompt: blurry" in text


def test_guidance_below_one_on_qwen_is_one_line_and_nonzero(run) -> None:
    result = run("generate", "a sign", "-m", "tiny-qwen", "--guidance", "0.5", "-n", "1")
    assert result.exit_code != 0 and "Guidance must be from 1 to 10" in result.output
