"""Server file paths never reach Discord users."""

from __future__ import annotations

import pytest

from bot.services.errors import StudioError
from bot.ui.feedback import user_message
from bot.ui.render import failed_text, hide_paths


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Model 'broken': '/tmp/x/missing-model' is not a folder", "Model 'broken': 'missing-model' is not a folder"),
        ("look in /srv/studio/data/models/ first", "look in (a folder) first"),
        (r"C:\Users\me\lora.safetensors is bad", "lora.safetensors is bad"),
        ("ratio 2/3 and https://example.org/a/b stay", "ratio 2/3 and https://example.org/a/b stay"),
    ],
)
def test_hide_paths(message: str, shown: str) -> None:
    assert hide_paths(message) == shown


def test_failures_and_refusals_hide_paths() -> None:
    assert "/home/" not in failed_text("cannot read /home/admin/models/sd.safetensors")
    assert user_message(StudioError("missing /opt/weights/unet")) == "missing unet"
