"""The `studio` command line: each command, and one-line errors with a non-zero exit."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from storage import latest_version


def test_db_upgrade_creates_the_database(run, tmp_path: Path) -> None:
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"schema version {latest_version()}" in result.output
    assert (tmp_path / "data" / "studio.db").is_file()


def test_models_list_shows_presets(run) -> None:
    result = run("models", "list")
    assert result.exit_code == 0
    for name in ("tiny-sd", "tiny-sdxl", "sd15", "sdxl", "sdxl-turbo"):
        assert name in result.output
    # FLUX.1's memory plan thresholds, as /models shows them: whether a GPU can hold it, and how.
    flux_dev = result.output.split("flux-dev ", 1)[1].split("\n")
    assert flux_dev[1].strip().startswith("memory: bf16 from ~") and "nf4 from ~" in flux_dev[1]
    kontext = result.output.split("flux-kontext ", 1)[1].split("\n")[1]

    def bf16_gb(line: str) -> int:
        return int(line.split("bf16 from ~", 1)[1].split(" ", 1)[0])

    assert bf16_gb(kontext) > bf16_gb(flux_dev[1])  # the reference image's tokens need room too


def test_models_import_lora_then_list(run, tmp_path: Path) -> None:
    lora = tmp_path / "cat.safetensors"
    save_file({"unet.x.lora.down.weight": np.zeros((2, 2), dtype=np.float32)}, str(lora))
    result = run("models", "import-lora", str(lora), "--name", "My Cat", "--base", "tiny-sd", "--trigger", "mycat")
    assert result.exit_code == 0, result.output
    listed = run("models", "list").output
    assert "My Cat " in listed and "trigger 'mycat'" in listed  # the name as typed
    assert run("models", "disable", "my cat").exit_code == 0  # found in any case
    assert "My Cat " not in run("models", "list").output


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_generate_writes_images_with_parameters(run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "generate", "a small boat", "-n", "2", "-m", "tiny-sd", "--seed", "5", "--steps", "2", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("*_seed*.png"))
    assert [p.name.split("_seed")[1] for p in pngs] == ["5.png", "6.png"]
    assert str(pngs[0]) in result.output
    with Image.open(pngs[1]) as img:
        assert "Seed: 6" in img.info["parameters"]
    assert list(out.glob("*_grid.*"))


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_generate_with_a_scheduler_records_it(run, tmp_path: Path) -> None:
    out = tmp_path / "sched"
    result = run(
        "generate", "a hut", "-n", "1", "-m", "tiny-sd", "--steps", "2", "--scheduler", "euler_a", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    (png,) = out.glob("*.png")
    with Image.open(png) as img:
        assert "Sampler: Euler a, Schedule type: Uniform," in img.info["parameters"]  # A1111's names for euler_a
    assert run("generate", "a hut", "--scheduler", "warp-drive").exit_code == 2  # click refuses the choice


def test_generate_bad_input_is_one_line_and_nonzero(run) -> None:
    result = run("generate", "a cat", "-m", "no-such-model")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Unknown model" in lines[0]


def test_run_without_token_says_so(run) -> None:
    result = run("run")
    assert result.exit_code == 1
    assert "DISCORD_TOKEN is not set" in result.output


def test_bad_setting_stops_with_its_name(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DEVICE", "tpu")
    result = run("models", "list")
    assert result.exit_code == 1
    assert "STUDIO_DEVICE" in result.output


@pytest.mark.slow  # the CLI runs the real engine on tiny-sd
def test_delete_user(run) -> None:
    assert run("generate", "a cat", "-n", "1", "-m", "tiny-sd", "--steps", "2").exit_code == 0
    result = run("db", "delete-user", "0", "--yes")
    assert result.exit_code == 0, result.output
    assert "jobs: 1" in result.output and "files:" in result.output


def test_delete_user_removes_the_users_stars_collections_and_api_tokens(run, tmp_path: Path) -> None:
    import asyncio

    from storage import open_database

    async def seed() -> None:
        db = await open_database(tmp_path / "data" / "studio.db")
        try:
            theirs = await db.jobs.create("generate", {}, 8, guild_id=7)
            _, image_id = await db.execute(
                """INSERT INTO images (job_id, idx, path, sha256, size_bytes, width, height, seed, prompt, model,
                                       created_at) VALUES (?, 0, '/x/0.png', 'ab', 1, 8, 8, 1, 'a cat', 'm', 'now')""",
                (theirs.id,),
            )
            assert image_id is not None
            await db.favourites.add(5, image_id)
            box = await db.collections.create(5, 7, "Cats")
            await db.collections.add_images(box.id, [image_id])
            await db.api_tokens.add(5, 7, "script", "c" * 64)
        finally:
            await db.close()

    asyncio.run(seed())
    result = run("db", "delete-user", "5", "--yes")
    assert result.exit_code == 0, result.output
    for part in ("favourites: 1", "collection_items: 1", "collections: 1", "api_tokens: 1"):
        assert part in result.output


@pytest.mark.parametrize("command", ["generate", "vary", "edit"])
def test_an_out_path_that_is_a_file_is_refused_before_the_job_runs(run, tmp_path: Path, command: str) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    picture = tmp_path / "in.png"
    Image.new("RGB", (32, 32), "gray").save(picture)
    args = {
        "generate": ("generate", "a boat"),
        "vary": ("vary", str(picture), "make it blue"),
        "edit": ("edit", str(picture), "make it blue", "--region", "the sky"),
    }[command]
    result = run(*args, "-n", "1", "-m", "tiny-sd", "--out", str(taken))
    assert result.exit_code == 2
    assert "is a file" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "studio.db").exists()  # refused before any job was queued


def _python_m(module: str, *args: str, cwd: Path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "STUDIO_"))}
    env["STUDIO_DATA_DIR"] = str(cwd / "data")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_python_dash_m_cli_has_every_command(tmp_path: Path) -> None:
    out = _python_m("cli", "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for command in ("generate", "describe", "vary", "edit", "models", "db", "run", "sync", "demo", "autopost"):
        assert f"  {command} " in out.stdout


def test_python_dash_m_bot_runs_the_bot(tmp_path: Path) -> None:
    out = _python_m("bot", cwd=tmp_path)
    assert out.returncode == 1
    assert "DISCORD_TOKEN is not set" in out.stderr


@pytest.mark.slow  # the CLI runs the real engine: the tiny captioner
def test_trainset_add_list_and_show(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CAPTIONER", "tiny-blip")
    files = []
    for n, colour in enumerate(((200, 30, 30), (30, 200, 30))):
        path = tmp_path / f"photo{n}.png"
        Image.new("RGB", (96, 96), colour).save(path)
        files.append(str(path))
    added = run("trainset", "add", "My Char", *files)
    assert added.exit_code == 0, added.output
    assert added.output.count("added image") == 2
    listed = run("trainset", "list")
    assert listed.output.strip() == "My Char: 2 image(s), owner 0"  # as typed
    sheet = tmp_path / "sheet.png"
    shown = run("trainset", "show", "MY CHAR", "--out", str(sheet))
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[1].startswith("    1. ") and "(caption pending)" not in shown.output  # captioned before `add` ended
    assert "[upload by 0," in lines[1]
    assert "2 image(s): not ready, add 18 more image(s)" in shown.output
    with Image.open(sheet) as picture:
        assert picture.size[0] > 300
    missing = run("trainset", "show", "nope")
    assert missing.exit_code == 1 and "no training set named 'nope'" in missing.output


@pytest.mark.slow  # the real engine: tiny-sd, the tiny captioner
def test_train_a_folder_then_list_and_export(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import safe_open

    from tests.engine.training_support import planted_images

    monkeypatch.setenv("STUDIO_CAPTIONER", "tiny-blip")
    monkeypatch.setenv("STUDIO_EMBEDDER", "tiny-clip")
    folder = tmp_path / "photos"
    items = planted_images(folder, 3)
    (folder / "0.txt").write_text("zzhero standing in the rain\n")  # a caption beside an image is used as is
    trained = run(
        "train",
        "--images",
        str(folder),
        "--name",
        "Hero",
        "--steps",
        "4",
        "--trigger",
        "zzhero",
        "--train-text-encoder",
        "--force",  # 3 images, fewer than min_training_images
    )
    assert trained.exit_code == 0, trained.output
    out = trained.output
    assert "fewer images than the 20 a training needs: trained anyway (--force)" in out
    assert "set 'Hero': 3 new image(s) of 3" in out  # names are kept as typed
    assert "  Text encoder: trained too (you)" in out
    assert "  Steps: 4 (you)" in out and "plan: Hero on tiny-sd, 3 image(s), trigger 'zzhero'" in out
    assert "trained 4/4 steps" in out and "registered as 'Hero' (trigger 'zzhero')" in out
    assert "step 4: loss" in out and "<- registered" in out
    shown = run("trainset", "show", "hero")
    assert "zzhero standing in the rain" in shown.output and len(items) == 3
    listed = run("train", "list")
    assert listed.output.startswith("#1 Hero: done, 4/4 steps") and "-> Hero (step 4)" in listed.output
    assert "Hero " in run("models", "list").output
    exported = tmp_path / "hero_for_a1111.safetensors"
    done = run("models", "export", "hero", "--format", "kohya", "--out", str(exported))
    assert done.exit_code == 0, done.output
    with safe_open(str(exported), "pt") as f:
        keys = list(f.keys())
        assert f.metadata()["ss_output_name"] == "Hero" and f.metadata()["ss_network_train_unet_only"] == "False"
    assert {k.split("_")[1] for k in keys} == {"unet", "te"}  # lora_unet_… and lora_te_…
    missing = run("models", "export", "nope", "--out", str(tmp_path / "x.safetensors"))
    assert missing.exit_code == 1 and "No LoRA named 'nope'" in missing.output
    nothing = run("train", "--name", "ghost", "--resume")
    assert nothing.exit_code == 1 and "No interrupted training of 'ghost'" in nothing.output


def _schedule(tmp_path: Path) -> None:
    """A schedule as /autopost add leaves it, with a server's wildcard list."""
    import asyncio

    from storage import open_database

    async def make() -> None:
        (tmp_path / "data").mkdir(exist_ok=True)
        db = await open_database(tmp_path / "data" / "studio.db")
        try:
            await db.schedules.set_wildcard(42, "seas", ["north sea"])
            params = {"count": 1, "lora_share": 100, "caption": "{model}: {prompt}"}
            created = await db.schedules.create(
                "boats",
                42,
                555,
                "0 9 * * *",
                "a boat on the __seas__ at {dawn|dusk}",
                7,
                model="tiny-sd",
                params=params,
            )
            await db.schedules.update(created.id, home_channel_id=556)
        finally:
            await db.close()

    asyncio.run(make())


@pytest.mark.slow  # the real engine: tiny-sd
def test_autopost_list_and_run_one_post_locally(run, tmp_path: Path) -> None:
    assert "no auto-posts yet" in run("autopost", "list").output
    _schedule(tmp_path)
    listed = run("autopost", "list", "--guild", "42")
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("#1 boats -> channel 555: At 09:00 (UTC, `0 9 * * *`); next ")
    assert "never run" in listed.output
    assert "no auto-posts yet" in run("autopost", "list", "--guild", "43").output
    out = tmp_path / "post"
    result = run("autopost", "run", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    prompt = re.search(r"prompt: [^\n]*", result.output).group(0)  # after the progress bar's carriage returns
    assert prompt in ("prompt: a boat on the north sea at dawn", "prompt: a boat on the north sea at dusk")
    assert f"tiny-sd: {prompt.removeprefix('prompt: ')}" in result.output  # the caption template
    assert len(list(out.glob("*.png"))) == 1
    missing = run("autopost", "run", "9", "--out", str(out))
    assert missing.exit_code == 1 and "no auto-post 9" in missing.output


def test_workers_describes_the_local_worker_through_the_backend(run) -> None:
    result = run("workers")
    assert result.exit_code == 0, result.output
    worker, note = result.output.strip().splitlines()
    assert worker == "local: cpu, no GPU, fp32; no model loaded; idle"  # STUDIO_DEVICE=cpu, as the tests run
    assert note.startswith("No studio process runs now")


def test_workers_says_what_it_cannot_see_while_another_process_owns_the_folder(run, tmp_path: Path) -> None:
    import asyncio

    from storage import open_database
    from studio.owner import acquire

    async def a_running_job() -> int:
        db = await open_database(tmp_path / "data" / "studio.db")
        try:
            job = await db.jobs.create("train", {"v": 1}, 1, guild_id=None, origin="interaction", lane="batch")
            return (await db.jobs.start(job.id)).id
        finally:
            await db.close()

    job_id = asyncio.run(a_running_job())
    lock = acquire(tmp_path / "data", "studio run")  # the bot, as far as the folder knows
    try:
        result = run("workers")
    finally:
        lock.release()
    assert result.exit_code == 0, result.output
    worker, note = result.output.strip().splitlines()
    owner = "local (the data folder's owner)"
    assert worker == f"{owner}: cpu, no GPU, fp32; models held unknown here; job {job_id} (train)"
    assert "owned by `studio run`" in note and "known only there" in note


def test_the_terminals_port_tells_of_a_paused_schedule_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from cli.commands._local import CliDelivery
    from studio.contract import SchedulePaused
    from studio.jobs.router import DeliveryRouter

    router = DeliveryRouter()
    router.register(CliDelivery(), "cli", "schedule")
    asyncio.run(router.schedule_paused(SchedulePaused(3, "morning cat", "its model is gone", 42, (7,))))
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "auto-post #3 morning cat paused: its model is gone; `/autopost resume 3` in Discord starts it again"


@pytest.mark.slow  # the real engine on tiny-world
def test_demo_draws_the_prompt_on_tiny_world_and_says_how_to_point_at_a_real_model(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from engine.tiny.world.reading import matches

    monkeypatch.delenv("STUDIO_DEFAULT_MODEL")  # the real default, as on a fresh clone
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "model tiny-world" in result.output
    paths = re.findall(r"image \d \(id \d+, seed \d+\): (\S+)", result.output)
    assert len(paths) == 4
    drawn = [matches(Image.open(p).convert("RGB"), "a red circle on a blue background") for p in paths]
    assert sum(drawn) >= 2, drawn  # both colours as asked: 97 % of tiny-world's images (BENCHMARKS.md)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("These are recognisable shapes") and "STUDIO_DEFAULT_MODEL=sd15" in last
