"""`studio generate` and `studio vary` on tiny-flux2: klein generates, and /vary edits from the image itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # the CLI runs the real engine on tiny-flux2


def test_generate_two_then_vary_from_the_reference(run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("-n", "2", "-m", "tiny-flux2", "--seed", "5", "--steps", "2", "--out", str(out))
    made = run("generate", "a red boat", *args)
    assert made.exit_code == 0, made.output
    pngs = sorted(out.glob("*_seed*.png"))
    assert [p.name.split("_seed")[1] for p in pngs] == ["5.png", "6.png"]
    picture = tmp_path / "in.png"
    Image.new("RGB", (96, 64), (40, 90, 200)).save(picture)
    varied_dir = tmp_path / "varied"
    varied = run("vary", str(picture), "make it red", "-n", "1", "-m", "tiny-flux2", "--out", str(varied_dir))
    assert varied.exit_code == 0, varied.output
    (png,) = varied_dir.glob("*_seed*.png")
    with Image.open(png) as img:
        # The instruction itself went to klein (no caption, no strength), at the picture's aspect.
        assert img.size == (80, 48) and "make it red" in img.info["parameters"]
        assert "Denoising strength" not in img.info["parameters"]
