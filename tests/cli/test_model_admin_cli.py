"""`studio models add|import-lora|disable|enable|export` and `studio workers`: what a newcomer gets wrong, refused."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from storage import open_database


def _one_line_error(result, *needles: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def _lora_file(path: Path) -> Path:
    save_file({"unet.down.lora.down.weight": np.zeros((2, 2), dtype=np.float32)}, str(path))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_models_add_refuses_a_path_that_does_not_exist_but_takes_a_hub_id(run, tmp_path: Path) -> None:
    for missing in ("./weights/sd15", str(tmp_path / "nope"), "weights/model.safetensors", "~/models/x/y"):
        _one_line_error(run("models", "add", "mine", missing, "--family", "sd15"), "does not exist")
    added = run("models", "add", "My Model", "org/some-model", "--family", "sdxl")
    assert added.exit_code == 0, added.output
    assert "My Model" in run("models", "list").output or "my-model" in run("models", "list").output
    _one_line_error(run("models", "add", "tiny-sd", "org/other", "--family", "sd15"), "base model")
    _one_line_error(run("models", "add", "MY MODEL", "org/other", "--family", "sd15"), "MY MODEL")


def test_import_lora_refuses_the_name_of_a_base_model(run, tmp_path: Path) -> None:
    lora = _lora_file(tmp_path / "style.safetensors")
    for name in ("tiny-sd", "TINY-SD", "sd15"):
        _one_line_error(run("models", "import-lora", str(lora), "--name", name, "--base", "tiny-sd"), "base model")
    made = run("models", "import-lora", str(lora), "--name", "Ink✨", "--base", "tiny-sd")
    assert made.exit_code == 0, made.output
    assert any(line.startswith("Ink✨ ") for line in run("models", "list").output.splitlines())  # as typed


def test_disable_is_undone_by_enable(run, tmp_path: Path) -> None:
    lora = _lora_file(tmp_path / "style.safetensors")
    assert run("models", "import-lora", str(lora), "--name", "Ink", "--base", "tiny-sd").exit_code == 0
    assert run("models", "disable", "INK").exit_code == 0
    assert "Ink " not in run("models", "list").output
    enabled = run("models", "enable", "ink")
    assert enabled.exit_code == 0 and "Ink enabled" in enabled.output
    assert any(line.startswith("Ink ") for line in run("models", "list").output.splitlines())
    assert run("models", "disable", "ink").exit_code == 0
    _one_line_error(run("models", "enable", "nothing-here"), "No installed model named 'nothing-here'; disabled: Ink")


def _trained(data: Path, name: str) -> Path:
    """A LoRA registered as training registers one: its files in loras/, `run_id` in its config."""
    from storage.names import path_slug

    slug = path_slug(name)
    loras = data / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    diffusers_file = _lora_file(loras / f"{slug}.safetensors")
    _lora_file(loras / f"{slug}_kohya.safetensors")

    async def register() -> None:
        db = await open_database(data / "studio.db")
        try:
            await db.models.add(
                slug,
                name,
                "lora",
                "sd15",
                str(diffusers_file.resolve()),
                base_model="tiny-sd",
                config={"run_id": 1},
                key=name,
            )
        finally:
            await db.close()

    asyncio.run(register())
    return diffusers_file


def test_export_never_writes_over_the_studios_files_and_asks_before_replacing(run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("db", "upgrade").exit_code == 0
    own = _trained(data, "exactB")
    before = own.read_bytes()
    _one_line_error(run("models", "export", "exactB", "--out", str(own)), "inside the studio's loras folder")
    _one_line_error(run("models", "export", "exactB", "--out", str(data / "models" / "x.safetensors")), "models")
    imported = _lora_file(tmp_path / "elsewhere.safetensors")
    assert run("models", "import-lora", str(imported), "--name", "Other", "--base", "tiny-sd").exit_code == 0
    assert own.read_bytes() == before
    out = tmp_path / "out" / "exactB.safetensors"
    first = run("models", "export", "EXACTB", "--out", str(out))  # the name in any case
    assert first.exit_code == 0 and out.is_file(), first.output
    out.write_bytes(b"mine")
    _one_line_error(run("models", "export", "exactB", "--out", str(out)), "exists already", "--force")
    assert out.read_bytes() == b"mine"
    forced = run("models", "export", "exactB", "--out", str(out), "--force")
    assert forced.exit_code == 0 and out.read_bytes() == (data / "loras" / "exactb_kohya.safetensors").read_bytes()


def test_export_refuses_a_registered_file_outside_the_data_folder(run, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    _trained(tmp_path / "data", "exactB")
    outside = tmp_path / "shared" / "base.safetensors"
    outside.parent.mkdir()
    outside.write_bytes(b"weights")
    assert run("models", "add", "shared-base", str(outside), "--family", "sd15").exit_code == 0
    _one_line_error(run("models", "export", "exactB", "--out", str(outside), "--force"), "model file the studio uses")
    assert outside.read_bytes() == b"weights"


def test_workers_with_an_unreachable_address_fails_in_one_line(run, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("STUDIO_BACKEND", "ray")
    address = f"127.0.0.1:{_free_port()}"
    _one_line_error(run("workers", "--address", address), f"No Ray cluster at {address}", "cannot be reached")
    _one_line_error(run("workers", "--address", "ray://127.0.0.1:notaport"), "not host:port")


def test_workers_gives_up_on_an_address_that_never_answers_as_ray(run, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    import threading

    import engine
    from cli.commands import workers_cmd

    never = threading.Event()
    # Patched on the engine's face, where the core reads it; patching ray_backend would leave the face's copy.
    monkeypatch.setattr(engine, "worker_statuses", lambda address: never.wait())  # ray.init hanging
    monkeypatch.setattr(workers_cmd, "ANSWER_S", 0.2)
    with socket.socket() as listener:  # something listens, so the TCP probe passes
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        try:
            _one_line_error(run("workers", "--address", address), f"{address} did not answer as a Ray cluster")
        finally:
            never.set()


def test_train_refuses_a_base_models_name_before_it_copies_anything(run, tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for n in range(3):
        Image.new("RGB", (64, 64), (60 * n, 90, 120)).save(folder / f"p{n}.png")
        (folder / f"p{n}.txt").write_text("zzx a square")
    for name in ("TINY-SD", "  "):
        refused = run("train", "--images", str(folder), "--name", name, "--force")
        _one_line_error(refused, "base model" if name.strip() else "empty")
    assert run("trainset", "list").output.strip() == "no training sets yet"
