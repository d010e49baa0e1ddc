"""Files that travel with a work order: the paths an order names are mapped, packed, written and sent back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.backends.shipping import Arrival, pack, remap, unpack
from engine.errors import Stopped
from engine.types import LoraSpec
from engine.work import WorkOrder


@dataclass(frozen=True)
class _Request:
    loras: tuple[LoraSpec, ...]
    elsewhere: str


def test_paths_under_the_data_folder_are_mapped_and_the_rest_kept(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    lora = LoraSpec("style", str(data / "loras" / "style.safetensors"), "sd15", 0.8)
    order = WorkOrder(7, "generate", _Request((lora,), "/elsewhere/x"), {"source": data / "up" / "a.png"}, data / "o")
    mapped = remap(order, data, scratch)
    assert mapped.inputs["source"] == scratch / "up" / "a.png" and mapped.out_dir == scratch / "o"
    assert mapped.request.loras[0].path == str(scratch / "loras" / "style.safetensors")
    assert mapped.request.loras[0].scale == 0.8 and mapped.request.elsewhere == "/elsewhere/x"
    assert remap(mapped, scratch, data) == order
    same = WorkOrder(8, "describe", _Request((), "x"))
    assert remap(same, data, scratch) is same  # nothing to map: the same object


def test_a_round_trip_brings_back_what_the_run_wrote(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    (data / "loras").mkdir(parents=True)
    (data / "loras" / "style.safetensors").write_bytes(b"weights")
    (data / "run" / "ckpt-1").mkdir(parents=True)
    (data / "run" / "ckpt-1" / "lora.safetensors").write_bytes(b"step 1")
    lora = LoraSpec("style", str(data / "loras" / "style.safetensors"), "sd15")
    order = WorkOrder(7, "train", _Request((lora,), str(data / "run")), {}, data / "out")
    files = pack(order, data)
    assert files == {"loras/style.safetensors": b"weights", "run/ckpt-1/lora.safetensors": b"step 1"}
    arrival = Arrival(scratch, (str(data), files))
    there = arrival.arrive(order)
    assert Path(there.request.loras[0].path).read_bytes() == b"weights"
    (scratch / "out").mkdir()
    (scratch / "out" / "0.png").write_bytes(b"image")
    outcome, back = arrival.leave(Stopped({"lora": scratch / "out" / "0.png"}))
    assert back == {"out/0.png": b"image"}  # only what the run wrote
    assert outcome.outcome == {"lora": data / "out" / "0.png"}
    unpack(back, data)
    assert (data / "out" / "0.png").read_bytes() == b"image"
    with pytest.raises(ValueError, match="leaves the folder"):
        unpack({"../escape.txt": b"x"}, data)
