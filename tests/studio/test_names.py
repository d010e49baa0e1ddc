"""Names kept as typed through training, lookup, export and resume (the real tiny engine: `slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.commands._support import LOCAL
from studio.container import Services
from studio.errors import Refused
from studio.models.admin import export_lora
from studio.training.api import TrainOverrides
from studio.training.interrupted import find_interrupted
from tests.engine.training_support import planted_images
from tests.studio.conftest import settle
from tests.studio.test_training import MANAGER, _set, studio  # noqa: F401 - `studio` is a fixture

pytestmark = pytest.mark.slow


async def _local_set(services: Services, tmp_path: Path) -> None:
    """A set as `studio train` makes it: on this machine, no server."""
    await services.trainsets.create(LOCAL, "Mila", trigger_word="zzmila")
    images = [item.path.read_bytes() for item in planted_images(tmp_path / "local", 4)]
    await services.trainsets.add_uploads(LOCAL, images, "mila")
    await settle(services)  # the captions


async def test_exactB_round_trips_through_training_lookup_export_and_resume(studio, tmp_path: Path) -> None:  # noqa: F811
    services, _delivery = studio
    await _local_set(services, tmp_path)
    plan = await services.training.plan(
        LOCAL, "MILA", "exactB", TrainOverrides(steps=2), force=True
    )  # the set is found in any case
    assert plan.model_name == "exactB"
    ticket = await services.training.start(LOCAL, plan.run_id)
    assert (await find_interrupted(services, "EXACTB")).job_id == ticket.job_id  # `--resume --name`: any case
    await services.jobs.wait(ticket.job_id, limit_s=300)
    for asked in ("exactB", "EXACTB", "exactb"):
        resolved = await services.models.resolve(asked)
        assert resolved.loras and resolved.loras[0].name == "exactb"
    record = await services.db.models.get("exactB")
    assert record is not None and record.display_name == "exactB"
    out = await export_lora(services.settings, "EXACTB", "kohya", tmp_path / "out" / "exactB")
    assert out.is_file() and out.read_bytes() == services.training.registry.lora_files("exactB")[1].read_bytes()
    again = await services.training.plan(
        LOCAL, "mila", "EXACTB", TrainOverrides(steps=2), force=True
    )  # the same name: a retrain
    assert again.model_name == "EXACTB-v2"


async def test_a_unicode_name_is_shown_as_typed_and_stored_under_a_safe_file(studio, tmp_path: Path) -> None:  # noqa: F811
    services, _delivery = studio
    await _set(services, tmp_path)
    plan = await services.training.plan(MANAGER, "mila", "café✨", TrainOverrides(steps=2))
    ticket = await services.training.start(MANAGER, plan.run_id)
    await services.jobs.wait(ticket.job_id, limit_s=300)
    record = await services.db.models.get("CAFÉ✨")
    assert record is not None and record.display_name == "café✨"
    diffusers_file, kohya_file = services.training.registry.lora_files("café✨")
    assert diffusers_file.is_file() and kohya_file.is_file()
    assert diffusers_file.name.isascii() and diffusers_file.name.startswith("cafe-")
    assert diffusers_file.name != "cafe.safetensors"  # "cafe" would be another model's file
    catalog = {info.name: info for info in await services.models.catalog()}
    assert catalog[record.name].display_name == "café✨"


@pytest.mark.parametrize("name", ["tiny-sd", "TINY-SD", "  Tiny-SD "])
async def test_a_lora_may_not_take_a_base_models_name(studio, tmp_path: Path, name: str) -> None:  # noqa: F811
    services, _delivery = studio
    await _set(services, tmp_path)
    with pytest.raises(Refused, match="name of a base model"):
        await services.training.plan(MANAGER, "mila", name, TrainOverrides(steps=2))


@pytest.mark.parametrize(("name", "why"), [("", "empty"), ("a\x1bb", "control"), ("x" * 65, "at most 64")])
async def test_a_name_that_cannot_be_kept_is_refused_in_one_line(studio, tmp_path: Path, name: str, why: str) -> None:  # noqa: F811
    services, _delivery = studio
    await _set(services, tmp_path)
    with pytest.raises(Refused, match=why) as caught:
        await services.training.plan(MANAGER, "mila", name, TrainOverrides(steps=2))
    assert "\n" not in caught.value.message
