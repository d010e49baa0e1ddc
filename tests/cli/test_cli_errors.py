"""Every `studio` command, given bad input, fails with ONE line naming the cause and a non-zero exit.

`CASES` holds bad inputs for each command path; a command added without any fails `test_every_command_has_cases`.
The cases run through the real entry (`StudioGroup.main`, as the console script calls it) and fail before any
model is loaded, except the missing-weights cases, which meet the engine with the hub offline.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image
from safetensors.numpy import save_file

from cli.commands import COMMANDS
from cli.main import cli, hoist_global_options
from storage import open_database


@dataclass(frozen=True)
class Case:
    """Arguments after `studio` (with {placeholders} for the files `files` makes), extra environment, and a part
    of the line that names the cause."""

    args: tuple[str, ...]
    expect: str
    env: dict[str, str] = field(default_factory=dict)


NO_GPU = {"STUDIO_DEVICE": "cuda"}
NO_GPU_LINE = "STUDIO_DEVICE=cuda but torch sees no CUDA GPU"

CASES: dict[str, list[Case]] = {
    "run": [
        Case(("run",), "DISCORD_TOKEN is not set"),
        Case(("run",), NO_GPU_LINE, NO_GPU),
    ],
    "sync": [Case(("sync", "--guild", "abc"), "'abc' is not a valid integer"), Case(("sync",), "DISCORD_TOKEN")],
    "generate": [
        Case(("generate",), "Missing argument 'PROMPT'"),
        Case(("generate", "a fox", "-n", "3"), "'3' is not one of"),
        Case(("generate", "a fox", "-m", "no-such-model"), "studio models list"),
        Case(("generate", "a fox", "--out", "{file}"), "is a file"),
        Case(("generate", "a fox", "-m", "sd15", "-n", "1"), "tiny-sd"),  # no weights: how to get them, or tiny
        Case(("generate", "a fox", "-n", "1"), NO_GPU_LINE, NO_GPU),
    ],
    "demo": [Case(("demo", "extra"), "unexpected extra argument"), Case(("demo",), NO_GPU_LINE, NO_GPU)],
    "describe": [
        Case(("describe", "{missing}"), "does not exist"),
        Case(("describe", "{fake_png}"), "image"),
        # blip-large without its weights (tiny-world, the default model, brings a captioner of its own)
        Case(("describe", "{png}", "-n", "1"), "STUDIO_CAPTIONER=tiny-blip", {"STUDIO_DEFAULT_MODEL": "tiny-sd"}),
        Case(("describe", "{png}"), NO_GPU_LINE, NO_GPU),
    ],
    "vary": [
        Case(("vary", "{missing}", "as a watercolor"), "does not exist"),
        Case(("vary", "{png}", "as a watercolor", "--strength", "2"), "--strength"),
        Case(("vary", "{png}", "as a watercolor", "-m", "no-such-model"), "studio models list"),
    ],
    "edit": [
        Case(("edit", "{png}", "a red scarf"), "exactly one of --mask or --region"),
        Case(("edit", "{png}", "a red scarf", "--mask", "{png}", "--region", "sky"), "exactly one of"),
    ],
    "models list": [Case(("models", "list", "extra"), "unexpected extra argument")],
    "models add": [
        Case(("models", "add", "mine", "org/name", "--family", "sd3"), "'sd3' is not one of"),
        Case(("models", "add", "mine", "{dir}/weights.ckpt", "--family", "sd15"), "pickle"),
        Case(("models", "add", "mine", "{dir}/none.safetensors", "--family", "sd15"), "does not exist"),
    ],
    "models import-lora": [
        Case(("models", "import-lora", "{missing}", "--name", "x", "--base", "sd15"), "does not exist"),
        Case(("models", "import-lora", "{file}", "--name", "x", "--base", "sd15"), "safetensors"),
        Case(("models", "import-lora", "{lora}", "--name", "x", "--base", "no-such-model"), "studio models list"),
        Case(("models", "import-lora", "{lora}", "--name", "Tiny-SD", "--base", "tiny-sd"), "pick another name"),
    ],
    "models disable": [Case(("models", "disable", "nothing-here"), "nothing-here")],
    "models enable": [Case(("models", "enable", "nothing-here"), "nothing-here")],
    "models export": [
        Case(("models", "export", "nothing-here", "--out", "{dir}/x.safetensors"), "studio models list"),
        Case(("models", "export", "trained", "--out", "/proc/no-such-dir/x.safetensors"), "/proc/no-such-dir"),
        Case(("models", "export", "trained", "--out", "{file}/x.safetensors"), "is a file where a folder is needed"),
        Case(
            ("models", "export", "trained", "--out", "{data}/loras/trained.safetensors", "--force"), "export somewhere"
        ),
    ],
    "trainset list": [Case(("trainset", "list", "--guild", "abc"), "'abc' is not a valid integer")],
    "trainset show": [Case(("trainset", "show", "nothing-here"), "studio trainset list")],
    "trainset add": [
        Case(("trainset", "add", "set"), "Missing argument"),
        Case(("trainset", "add", "set", "{missing}"), "does not exist"),
    ],
    "trainset pick": [
        Case(("trainset", "pick", "set", "abc"), "'abc' is not a valid integer"),
        Case(("trainset", "pick", "set", "0"), "0 is not in the range x>=1"),
        Case(("trainset", "pick", "nothing-here", "7"), "studio trainset list"),
    ],
    "trainset unpick": [
        Case(("trainset", "unpick", "set"), "Missing argument 'IMAGE_ID'"),
        Case(("trainset", "unpick", "nothing-here", "7"), "studio trainset list"),
    ],
    "train": [
        Case(("train", "--images", "{missing}", "--name", "x"), "does not exist"),
        Case(("train", "--optimizer", "sgd"), "'sgd' is not one of"),
        Case(("train", "--images", "{dir}", "--name", "x", "--steps", "0"), "steps must be between"),
        Case(("train", "--images", "{dir}", "--name", "x", "--base", "tiny-sd"), "--force"),  # too few images
        Case(("train", "--images", "{dir}", "--name", "x", "--base", "tiny-sd"), NO_GPU_LINE, NO_GPU),
    ],
    "train list": [Case(("train", "list", "extra"), "unexpected extra argument")],
    "train cancel": [Case(("train", "cancel", "nothing-here"), "studio train list"), Case(("train", "cancel"), "NAME")],
    "autopost list": [Case(("autopost", "list", "--guild", "abc"), "'abc' is not a valid integer")],
    "autopost run": [
        Case(("autopost", "run", "999", "--out", "{dir}/out"), "999"),
        Case(("autopost", "run", "1", "--out", "{file}"), "is a file"),
    ],
    "workers": [
        Case(("workers", "extra"), "unexpected extra argument"),
        Case(("workers", "--address", "127.0.0.1:1"), "127.0.0.1:1"),  # nothing listens there: seconds, not minutes
        Case(("workers",), NO_GPU_LINE, NO_GPU),  # the local worker describes the device the settings pick
    ],
    "db upgrade": [
        Case(("db", "upgrade", "--data-dir"), "'--data-dir' requires an argument"),
        Case(("--data-dir", "/proc/no-such-dir", "db", "upgrade"), "/proc/no-such-dir"),
        Case(("db", "upgrade", "--data-dir", "{file}"), "is a file, not a folder"),
    ],
    "db delete-user": [Case(("db", "delete-user", "somebody"), "'somebody' is not a valid integer")],
    "web": [
        Case(("web", "--host", "0.0.0.0"), "STUDIO_WEB_ALLOW_REMOTE=1"),
        Case(("web", "--port", "99999"), "99999"),
        Case(("web",), NO_GPU_LINE, NO_GPU),
    ],
    "web url": [Case(("web", "url", "extra"), "unexpected extra argument")],
    "web token": [Case(("web", "token", "--rotate", "now"), "unexpected extra argument")],
}
# The way a Discord reply names a command: the CLI names its own instead.
SLASH_COMMAND = re.compile(r"(?<![\w./-])/(models|train|trainset|describe|generate|autopost|vary|edit)\b")


def command_paths() -> set[str]:
    """'generate', 'models list', …: every command a user can run, groups that run by themselves included."""
    paths: set[str] = set()

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                paths.add(path)
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")
        else:
            paths.add(path)

    for command in COMMANDS:
        walk(command, command.name or "")
    return paths


def test_every_command_has_cases() -> None:
    missing = command_paths() - set(CASES)
    assert not missing, f"add bad-input cases for {sorted(missing)} to CASES"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    png = tmp_path / "red.png"
    Image.new("RGB", (64, 64), "red").save(png)
    (tmp_path / "fake.png").write_text("not an image", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    Image.new("RGB", (64, 64), "blue").save(tmp_path / "folder" / "blue.png")
    lora = tmp_path / "cat.safetensors"
    save_file({"unet.x.lora.down.weight": np.zeros((2, 2), dtype=np.float32)}, str(lora))
    return {
        "png": str(png),
        "fake_png": str(tmp_path / "fake.png"),
        "file": str(tmp_path / "notes.txt"),
        "dir": str(tmp_path / "folder"),
        "missing": str(tmp_path / "missing.png"),
        "lora": str(lora),
        "data": str(tmp_path / "data"),  # the studio's own folder (the `studio` fixture's --data-dir)
    }


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs `studio ARGS` through the console script's entry on a fresh data folder, the hub offline."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("DISCORD_TOKEN", "STUDIO_DATA_DIR", "STUDIO_DEFAULT_MODEL", "STUDIO_CAPTIONER", "STUDIO_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))  # no weights, whatever this machine has
    data = tmp_path / "data"

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        return CliRunner().invoke(cli, ["--data-dir", str(data), *args], prog_name="studio")

    invoke.data = data  # type: ignore[attr-defined]
    return invoke


async def _register_trained_lora(data: Path) -> None:
    """A LoRA as training leaves it: both files in loras/, its record pointing at its run."""
    loras = data / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    for name in ("trained.safetensors", "trained_kohya.safetensors"):
        save_file({"unet.x.lora.down.weight": np.zeros((2, 2), dtype=np.float32)}, str(loras / name))
    db = await open_database(data / "studio.db")
    try:
        source = str((loras / "trained.safetensors").resolve())
        await db.models.add("trained", "trained", "lora", "sd15", source, base_model="tiny-sd", config={"run_id": 1})
    finally:
        await db.close()


def assert_one_line(result: Result, expect: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert expect in lines[0], lines[0]
    assert not SLASH_COMMAND.search(lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("path", "case"),
    [pytest.param(path, case, id=f"{path}-{n}") for path, cases in CASES.items() for n, case in enumerate(cases)],
)
def test_bad_input_fails_in_one_line(studio, files: dict[str, str], path: str, case: Case) -> None:
    if case.env == NO_GPU and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if path == "models export":
        assert studio("db", "upgrade").exit_code == 0
        asyncio.run(_register_trained_lora(studio.data))
    args = [arg.format(**files) for arg in case.args]
    assert_one_line(studio(*args, env=case.env), case.expect)


def test_a_lora_for_another_family_is_refused_on_import(studio, tmp_path: Path) -> None:
    sd15 = tmp_path / "sd15_style.safetensors"
    prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file(
        {
            f"{prefix}.lora_down.weight": np.zeros((4, 768), dtype=np.float32),
            f"{prefix}.lora_up.weight": np.zeros((320, 4), dtype=np.float32),
            "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": np.zeros((4, 768), dtype=np.float32),
        },
        str(sd15),
    )
    flux = tmp_path / "flux_style.safetensors"
    save_file({"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": np.zeros((4, 8))}, str(flux))
    line = assert_one_line(studio("models", "import-lora", str(sd15), "--name", "s", "--base", "sdxl"), "sd15")
    assert "sdxl" in line and "--base" in line
    assert_one_line(studio("models", "import-lora", str(flux), "--name", "f", "--base", "sd15"), "flux")
    assert "sd15_style" not in studio("models", "list").output  # nothing was stored
    ok = studio("models", "import-lora", str(sd15), "--name", "s", "--base", "sd15")
    assert ok.exit_code == 0, ok.output


def test_global_options_work_before_and_after_the_subcommand(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STUDIO_DATA_DIR", raising=False)
    runner = CliRunner()
    before, after = tmp_path / "before", tmp_path / "after"
    assert runner.invoke(cli, ["--data-dir", str(before), "db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["db", "upgrade", "--data-dir", str(after), "--log-level", "DEBUG"])
    assert result.exit_code == 0, result.output
    assert (before / "studio.db").is_file() and (after / "studio.db").is_file()
    assert str(after / "studio.db") in result.output
    # `--` ends the options: what follows is the command's, even when it looks like a global option.
    assert hoist_global_options(["generate", "x", "--data-dir=D", "--verbose", "--", "--data-dir", "E"]) == [
        "--data-dir=D",
        "--verbose",
        "generate",
        "x",
        "--",
        "--data-dir",
        "E",
    ]


def test_an_unexpected_error_is_one_line_and_its_traceback_is_kept(studio, monkeypatch) -> None:
    from cli.commands import models_cmd

    def broken(obj: object) -> None:
        raise RuntimeError("the catalog\nbroke")

    monkeypatch.setattr(models_cmd, "print_catalog", broken)
    line = assert_one_line(studio("models", "list"), "unexpected RuntimeError: the catalog broke")
    assert "--verbose" in line
    log_file = studio.data / "logs" / "studio.log"
    assert str(log_file) in line
    logged = log_file.read_text(encoding="utf-8")
    assert "Traceback" in logged and "the catalog" in logged
    verbose = studio("models", "list", "--verbose")
    assert verbose.exit_code == 1 and "Traceback" in verbose.output
    assert verbose.output.strip().splitlines()[-1] == line


def test_cli_wording_names_studio_commands_and_leaves_paths_alone() -> None:
    from studio.errors import cli_wording

    assert cli_wording("Wait for it (/train status), or run /models.") == (
        "Wait for it (studio train list), or run studio models list."
    )
    assert cli_wording("/trainset list shows them; /autopost resume 3 goes on") == (
        "studio trainset list shows them; /autopost resume 3 goes on"  # no CLI command does that: kept
    )
    assert cli_wording("saved in /models/x and data/models") == "saved in /models/x and data/models"
    assert cli_wording("The engine failed; the error was logged for the admins.").endswith("--verbose for the details.")


def test_the_console_script_prints_one_line_on_stderr(tmp_path: Path) -> None:
    """The installed entry point, in its own process: nothing but the line reaches the terminal."""
    import os
    import subprocess
    import sys

    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("hello", encoding="utf-8")
    env = {**os.environ, "STUDIO_DEVICE": "cpu"}
    code = "from cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "db", "upgrade", "--data-dir", str(not_a_folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: the data folder {not_a_folder} is a file, not a folder: "
        "pass --data-dir (or set STUDIO_DATA_DIR to) a folder you can write to"
    ]


def test_ctrl_c_outside_a_job_exits_130_in_one_line(studio, monkeypatch) -> None:
    from cli.commands import models_cmd

    def interrupted(obj: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(models_cmd, "print_catalog", interrupted)
    result = studio("models", "list")
    assert result.exit_code == 130
    assert [line for line in result.output.splitlines() if line.strip()] == ["interrupted"]
