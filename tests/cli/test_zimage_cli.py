"""`studio generate -m tiny-zimage`: the command line runs the Z-Image family like any other."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.mark.slow  # the CLI runs the real engine on tiny-zimage
def test_generate_on_zimage_writes_images_with_its_parameters(run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("generate", "a small boat", "-n", "2", "-m", "tiny-zimage", "--seed", "5", "--steps", "2",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("*_seed*.png"))
    assert [p.name.split("_seed")[1] for p in pngs] == ["5.png", "6.png"]
    with Image.open(pngs[0]) as img:
        assert "Model: tiny-zimage" in img.info["parameters"] and "CFG scale: 0" in img.info["parameters"]


def test_a_negative_prompt_on_zimage_is_one_line_and_nonzero(run) -> None:
    result = run("generate", "a boat", "-m", "tiny-zimage", "--negative", "blurry", "-n", "1")
    assert result.exit_code != 0 and "Z-Image models take no negative prompt" in result.output
