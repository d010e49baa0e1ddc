"""`studio trainset pick|unpick NAME IMAGE_ID`: a result into a set by its image id, as ⭐ does in Discord."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cli.commands._support import LOCAL
from studio.container import open_services
from studio.images.api import GenerateInput
from studio.settings import load_settings
from tests.fakes import FakeEngineHost


async def _results(data: Path, *, set_name: str, picked: int = 0) -> list[int]:
    """Two result images made on the fake engine in the data folder, a set, and the first `picked` of them in it."""
    settings = load_settings(env_file=None, STUDIO_DATA_DIR=data, STUDIO_DEVICE="cpu")
    async with open_services(settings, host=FakeEngineHost(), owner="test") as services:
        await services.jobs.start(own_only=True)
        ticket = await services.generate.submit(LOCAL, GenerateInput("a cat", count=2, steps=2, model="tiny-sd"))
        await services.jobs.wait(ticket.job_id, limit_s=60)
        ids = [image.id for image in await services.db.images.for_job(ticket.job_id)]
        await services.trainsets.create(LOCAL, set_name)
        for image_id in ids[:picked]:
            _item, captions = await services.curation.pick(LOCAL, set_name, image_id)
            assert captions is not None
            await services.jobs.wait(captions, limit_s=60)
    return ids


def _one_line_error(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


def test_unpick_takes_a_picked_image_out_and_refuses_in_one_line(run, tmp_path: Path) -> None:
    first, second = asyncio.run(_results(tmp_path / "data", set_name="Picks", picked=1))
    assert "1 image(s)" in run("trainset", "list").output
    taken = run("trainset", "unpick", "picks", str(first))
    assert taken.exit_code == 0, taken.output
    assert taken.output.strip() == f"took image {first} (image 1) out of the set"
    assert run("trainset", "list").output.strip() == "Picks: 0 image(s), owner 0"
    again = run("trainset", "unpick", "picks", str(first))
    assert again.exit_code == 1 and f"Image {first} is not in the set 'Picks'." in _one_line_error(again.output)
    unknown = run("trainset", "pick", "picks", "424242")
    assert unknown.exit_code == 1 and "There is no image 424242 here" in _one_line_error(unknown.output)
    no_set = run("trainset", "pick", "nothing-here", str(second))
    assert no_set.exit_code == 1 and "studio trainset list" in _one_line_error(no_set.output)


@pytest.mark.slow  # the CLI runs the real engine: the tiny captioner captions the picked image
def test_pick_puts_a_result_in_a_set_and_captions_it(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CAPTIONER", "tiny-blip")
    _first, second = asyncio.run(_results(tmp_path / "data", set_name="Picks"))
    picked = run("trainset", "pick", "PICKS", str(second))
    assert picked.exit_code == 0, picked.output
    assert re.fullmatch(rf"picked image {second} as image 1: .+\.png", picked.output.strip())
    shown = run("trainset", "show", "picks").output.splitlines()
    assert shown[1].startswith("    1. ") and "(caption pending)" not in shown[1] and "[reaction by 0," in shown[1]
    twice = run("trainset", "pick", "picks", str(second))
    assert twice.exit_code == 1 and "is in the set 'Picks' already" in _one_line_error(twice.output)
