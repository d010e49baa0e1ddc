"""The loss curve of a run as a small PNG (PIL only: no plotting library for one line)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.work import OutputFile

WIDTH, HEIGHT, MARGIN = 640, 320, 40


def loss_plot(losses: Sequence[float], path: Path, file: Callable[[Path], OutputFile]) -> OutputFile:
    """Training loss per step (faint) and its moving average (bold), with the step and loss ranges labelled."""
    finite = [x for x in losses if x == x]  # NaN-free
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (high - low) or 1.0
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    draw.rectangle((MARGIN, MARGIN // 2, WIDTH - MARGIN // 2, HEIGHT - MARGIN), outline=(180, 180, 180))

    def point(i: int, value: float) -> tuple[float, float]:
        x = MARGIN + (WIDTH - 1.5 * MARGIN) * (i / max(1, len(losses) - 1))
        y = HEIGHT - MARGIN - (HEIGHT - 1.5 * MARGIN) * ((value - low) / span)
        return x, y

    raw = [point(i, v) for i, v in enumerate(losses) if v == v]
    if len(raw) > 1:
        draw.line(raw, fill=(170, 200, 240), width=1)
    window = max(1, len(losses) // 20)
    smooth = [
        point(i, sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1]))
        for i in range(len(losses))
    ]
    if len(smooth) > 1:
        draw.line(smooth, fill=(40, 90, 200), width=3)
    draw.text((MARGIN, HEIGHT - MARGIN + 6), "step 1", fill=(60, 60, 60), font=font)
    draw.text((WIDTH - 2.5 * MARGIN, HEIGHT - MARGIN + 6), f"step {len(losses)}", fill=(60, 60, 60), font=font)
    draw.text((4, MARGIN // 2), f"{high:.3f}", fill=(60, 60, 60), font=font)
    draw.text((4, HEIGHT - MARGIN - 12), f"{low:.3f}", fill=(60, 60, 60), font=font)
    draw.text((WIDTH // 2 - 30, 4), "training loss", fill=(20, 20, 20), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return file(path)
