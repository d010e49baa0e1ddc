"""Whether this machine has the device the settings name: asked before a command queues engine work."""

from __future__ import annotations


def check_device(setting: str) -> None:
    """Raise the engine's `DeviceError` (its message says what to set) when `setting` names a GPU this machine
    lacks; `auto` and `cpu` always pass, without loading torch."""
    if not setting.strip().lower().startswith("cuda"):
        return
    from engine import choose_device  # torch: loaded only when a GPU is asked for

    choose_device(setting)
