"""Files that travel with a work order, for Ray workers that do not share the bot's data folder.

An order names its files by path, in its inputs and inside its request (a LoRA's file, a training's images and
run folder). With `files="object-store"` the bot packs every existing file under its data folder that the order
names, the worker writes them under its own scratch folder and runs the order with those paths mapped there, then
sends back every file the run wrote, and the outcome with its paths mapped back. Plain data only: dataclasses,
tuples, lists, dicts, `Path`s and strings are walked; nothing else is touched.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from engine.errors import Stopped
from engine.work import WorkOrder

Files = dict[str, bytes]  # path relative to the data folder → content


def _under(value: str, root: str) -> str | None:
    """`value`'s path relative to `root` when it lies under it, else None."""
    if value == root:
        return ""
    if value.startswith(root + os.sep):
        return value[len(root) + 1 :]
    return None


def remap(value: Any, old: Path, new: Path) -> Any:
    """`value` with every path under `old` moved under `new` (the same object when nothing changes)."""
    old_s, new_s = str(old), str(new)
    if isinstance(value, Path):
        rel = _under(str(value), old_s)
        return value if rel is None else (new / rel if rel else new)
    if isinstance(value, str):
        rel = _under(value, old_s)
        return value if rel is None else (os.path.join(new_s, rel) if rel else new_s)
    if isinstance(value, tuple):
        items = tuple(remap(v, old, new) for v in value)
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(*items) if hasattr(value, "_fields") else items
    if isinstance(value, list):
        listed = [remap(v, old, new) for v in value]
        return value if all(a is b for a, b in zip(listed, value, strict=True)) else listed
    if isinstance(value, dict):
        mapping = {k: remap(v, old, new) for k, v in value.items()}
        return value if all(mapping[k] is v for k, v in value.items()) else mapping
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            current = getattr(value, field.name)
            mapped = remap(current, old, new)
            if mapped is not current:
                changes[field.name] = mapped
        return dataclasses.replace(value, **changes) if changes else value
    return value


def _paths(value: Any, found: set[str]) -> None:
    if isinstance(value, Path | str):
        found.add(str(value))
    elif isinstance(value, tuple | list):
        for v in value:
            _paths(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _paths(v, found)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _paths(getattr(value, field.name), found)


def pack(value: Any, root: Path) -> Files:
    """Every existing file under `root` that `value` names, a named folder's files included."""
    named: set[str] = set()
    _paths(value, named)
    files: Files = {}
    for text in named:
        rel = _under(text, str(root))
        if not rel:
            continue
        path = root / rel
        if path.is_file():
            files[rel] = path.read_bytes()
        elif path.is_dir():
            for inner in path.rglob("*"):
                if inner.is_file():
                    files[str(inner.relative_to(root))] = inner.read_bytes()
    return files


def unpack(files: Files, root: Path) -> None:
    """Write `files` under `root` (the worker's scratch folder, or the bot's data folder on the way back)."""
    for rel, data in files.items():
        target = root / rel
        if root.resolve() not in target.resolve().parents:
            raise ValueError(f"{rel!r} leaves the folder it is written to")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Each file under `root`: (size, mtime in ns), to tell what a run wrote."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def written(root: Path, before: dict[str, tuple[int, int]]) -> Files:
    """The files under `root` that are new or changed since `before`."""
    after = snapshot(root)
    return {rel: (root / rel).read_bytes() for rel, stamp in after.items() if before.get(rel) != stamp}


class Arrival:
    """One order on a worker that does not share the data folder: its files in, and what the run wrote back."""

    def __init__(self, scratch: Path, shipment: tuple[str, Files] | None) -> None:
        self.scratch = scratch
        self.data_dir = Path(shipment[0]) if shipment else None
        if shipment is not None:
            unpack(shipment[1], scratch)
        self.before = snapshot(scratch) if shipment else {}

    def arrive(self, order: WorkOrder) -> WorkOrder:
        return order if self.data_dir is None else remap(order, self.data_dir, self.scratch)

    def progress(self, event: Any) -> tuple[Any, Files]:
        if self.data_dir is None or event.image is None:
            return event, {}
        picture = Path(event.image)
        rel = str(picture.relative_to(self.scratch)) if picture.is_file() else None
        files = {rel: picture.read_bytes()} if rel else {}
        return remap(event, self.scratch, self.data_dir), files

    def leave(self, result: Any) -> tuple[Any, Files]:
        if self.data_dir is None:
            return result, {}
        if isinstance(result, Stopped):  # a stopped training's outcome names its checkpoint files
            result = Stopped(remap(result.outcome, self.scratch, self.data_dir), str(result))
        elif not isinstance(result, BaseException):
            result = remap(result, self.scratch, self.data_dir)
        return result, written(self.scratch, self.before)
