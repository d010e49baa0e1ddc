"""Training sets in the services: the checks on real files, captions kept, a member's additions deleted."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace

import pytest
from PIL import Image, ImageFilter

from studio.contract import Caller
from studio.errors import NotFound, Refused, StudioError
from studio.images.api import GenerateInput
from studio.privacy import delete_user_data
from tests.engine.training.test_dataset_checks import face, near_copy, other
from tests.studio.conftest import ALICE, BOB, GUILD, settle

FAST = {"steps": 2, "model": "tiny-sd"}


def _bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def test_the_check_flags_each_planted_image_by_number(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, min_training_images=5)
    await services.jobs.start()
    await services.trainsets.create(ALICE, "mychar", trigger_word="mychar")
    clean = [face(seed) for seed in range(8)]
    planted = [
        (near_copy(clean[2]), "near-duplicate of #3"),
        (face(40).filter(ImageFilter.GaussianBlur(2)), "blurry"),
        (Image.eval(face(41), lambda v: int(v * 0.25)), "too dark"),
        (face(43, 48), "too small"),
        (other(99), "unlike the rest"),
    ]
    for image in clean + [image for image, _ in planted]:
        await services.trainsets.add(ALICE, _bytes(image))
    verdict = await services.trainsets.check(ALICE)
    assert verdict.count == 13 and verdict.ready and verdict.outliers_checked
    notes = {flag.number: " ".join(flag.notes) for flag in verdict.flagged}
    assert sorted(notes) == [9, 10, 11, 12, 13]  # the clean images 1-8 pass
    for number, (_, expected) in enumerate(planted, start=9):
        assert expected in notes[number], (number, notes[number])
    assert verdict.summary == "13 image(s), 5 flagged below: ready to train."


async def test_a_clean_set_passes_and_too_few_images_block(services, delivery) -> None:
    await services.jobs.start()
    await services.trainsets.create(ALICE, "clean")
    for seed in range(6):
        await services.trainsets.add(ALICE, _bytes(face(seed)))
    verdict = await services.trainsets.check(ALICE)
    assert (verdict.flagged, verdict.ready) == ((), False)  # the server's minimum is 20 by default
    assert verdict.summary.startswith("6 image(s): not ready, add 14 more image(s): training needs at least 20")
    await services.db.guild_settings.update(GUILD, min_training_images=6)
    verdict = await services.trainsets.check(ALICE)
    assert verdict.ready and verdict.summary == "6 image(s), none flagged: ready to train."


async def test_a_members_caption_is_kept_when_the_captioner_answers_later(services, delivery) -> None:
    await services.trainsets.create(ALICE, "words", trigger_word="zzchar")
    # The queue is not started: the caption job waits while the member writes their own.
    first = await services.trainsets.add(ALICE, _bytes(face(1)))
    second = await services.trainsets.add(ALICE, _bytes(face(2)))
    await services.trainsets.caption(ALICE, first.number, "zzchar waving, night street")
    await services.jobs.start()
    await settle(services)
    view = await services.trainsets.show(ALICE)
    assert [(i.caption, i.caption_by_member) for i in view.items] == [
        ("zzchar waving, night street", True),
        ("zzchar, a photo of a cat", False),
    ]
    assert second.number == 2


async def test_deleting_a_members_data_removes_what_they_added_to_other_sets(services, delivery) -> None:
    await services.db.guild_settings.update(GUILD, max_concurrent_per_user=5)
    await services.jobs.start()
    bobs = await services.trainsets.create(BOB, "bobs")
    await services.trainsets.add(BOB, _bytes(face(3)))
    await services.trainsets.use(ALICE, "bobs")
    ticket = await services.generate.submit(BOB, GenerateInput("a cat", count=2, **FAST))
    await services.jobs.wait(ticket.job_id, limit_s=30)
    second = (await services.db.images.for_job(ticket.job_id))[1]
    await services.curation.pick(ALICE, None, second.id)
    await services.trainsets.add(ALICE, _bytes(face(4)), "bobs")
    await settle(services)
    before = await services.trainsets.show(BOB, "bobs")
    assert [i.added_by for i in before.items] == [BOB.user_id, ALICE.user_id, ALICE.user_id]
    alices = [i.path for i in before.items if i.added_by == ALICE.user_id]

    counts = await delete_user_data(services.db, ALICE.user_id)

    after = await services.trainsets.show(BOB, "bobs")
    assert [i.added_by for i in after.items] == [BOB.user_id] and after.info.id == bobs.id
    assert not any(path.exists() for path in alices)
    assert after.items[0].path.exists()
    assert counts["training_items"] == 2 and counts["active_training_sets"] == 1


async def test_pick_and_unpick_by_image_id_with_each_refusal_in_one_line(services, delivery) -> None:
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput("a cat", count=1, **FAST))
    await services.jobs.wait(ticket.job_id, limit_s=30)
    (image,) = await services.db.images.for_job(ticket.job_id)
    elsewhere = await services.generate.submit(
        Caller(user_id=9, guild_id=GUILD + 1), GenerateInput("a dog", count=1, **FAST)
    )
    await services.jobs.wait(elsewhere.job_id, limit_s=30)
    (theirs,) = await services.db.images.for_job(elsewhere.job_id)
    with pytest.raises(StudioError, match="no active training set"):
        await services.curation.pick(ALICE, None, image.id)
    await services.trainsets.create(ALICE, "stars")
    with pytest.raises(NotFound, match="no image 424242 here"):
        await services.curation.pick(ALICE, None, 424242)
    with pytest.raises(NotFound, match=f"no image {theirs.id} here"):  # made in another server
        await services.curation.pick(ALICE, None, theirs.id)

    item, captions = await services.curation.pick(ALICE, None, image.id)
    assert captions is not None
    assert (item.number, item.source, item.added_by) == (1, "reaction", ALICE.user_id)
    assert item.path.read_bytes() == image.path.read_bytes() and item.path != image.path  # the set's own copy
    with pytest.raises(Refused, match="in the set 'stars' already"):
        await services.curation.pick(ALICE, "STARS", image.id)
    with pytest.raises(StudioError, match="no active training set"):  # Bob has no set of his own
        await services.curation.unpick(BOB, None, image.id)
    with pytest.raises(Refused, match="Only the member who added image 1"):
        await services.curation.unpick(BOB, "stars", image.id)
    await services.trainsets.lock(ALICE, "stars", True)
    await services.curation.unpick(ALICE, None, image.id)
    with pytest.raises(Refused, match="is locked"):
        await services.curation.pick(BOB, "stars", image.id)
    with pytest.raises(NotFound, match=f"Image {image.id} is not in the set 'stars'"):
        await services.curation.unpick(ALICE, "stars", image.id)
    assert (await services.trainsets.show(ALICE)).items == ()


async def test_sets_belong_to_a_server(services) -> None:
    with pytest.raises(Refused, match="belong to a server"):
        await services.trainsets.create(Caller(user_id=ALICE.user_id), "in-a-dm")


async def _grid_images(services, caller, count: int = 2) -> list[int]:
    ticket = await services.generate.submit(caller, GenerateInput("a cat", count=count, **FAST))
    await services.jobs.wait(ticket.job_id, limit_s=30)
    return [image.id for image in await services.db.images.for_job(ticket.job_id)]


async def test_a_pick_taken_back_at_once_leaves_nothing(services, delivery) -> None:
    await services.jobs.start()
    await services.trainsets.create(ALICE, "quick")
    first, second = await _grid_images(services, ALICE)
    added, removed = await asyncio.gather(
        services.curation.pick(ALICE, None, first),
        services.curation.unpick(ALICE, None, first),
    )
    assert added[0].item_id == removed.item_id
    assert (await services.trainsets.show(ALICE)).items == ()
    folder = services.trainsets.folder((await services.trainsets.list(ALICE))[0].id)
    assert not any(folder.glob("*.png"))
    # Taken back and given again: the file the second add copied is there for its item.
    for _ in range(2):
        await services.curation.pick(ALICE, None, second)
        await services.curation.unpick(ALICE, None, second)
    await services.curation.pick(ALICE, None, second)
    (item,) = (await services.trainsets.show(ALICE)).items
    assert item.path.is_file()


async def test_deleting_a_set_while_images_are_added_leaves_no_file(services, delivery, settings) -> None:
    await services.jobs.start()
    info = await services.trainsets.create(ALICE, "doomed")
    uploads = [_bytes(face(seed)) for seed in range(6)]
    results = await asyncio.gather(
        services.trainsets.add_uploads(ALICE, uploads),
        services.trainsets.delete(ALICE, info.id),
        return_exceptions=True,
    )
    assert results[1] == "doomed"
    assert not services.trainsets.folder(info.id).exists()
    assert await services.db.training_sets.get(info.id) is None


async def test_looking_at_a_set_often_costs_one_check_and_follows_the_role_list(services, delivery) -> None:
    await services.jobs.start()
    await services.trainsets.create(ALICE, "looked-at")
    for seed in range(3):
        await services.trainsets.add(ALICE, _bytes(face(seed)))
    verdicts = await asyncio.gather(*(services.trainsets.check(ALICE) for _ in range(5)))
    assert len({v.summary for v in verdicts}) == 1
    await services.trainsets.show(ALICE)
    checks = [j for j in await services.db.jobs.list_for_user(ALICE.user_id, 50) if j.kind == "trainset_check"]
    assert len(checks) == 1  # five checks and a show at once, one job; the set did not change
    model = (await services.models.resolve(None)).spec.preset.id
    assert checks[0].request["model"] == model  # the engine reads the set with this model's own eyes, if it has any
    await services.trainsets.add(ALICE, _bytes(face(9)))
    await services.trainsets.check(ALICE)
    checks = [j for j in await services.db.jobs.list_for_user(ALICE.user_id, 50) if j.kind == "trainset_check"]
    assert len(checks) == 2  # a changed set is checked again
    await services.db.guild_settings.update(GUILD, allowed_role_ids=(555,))
    with pytest.raises(Refused, match="roles"):
        await services.trainsets.check(ALICE)


async def test_show_answers_at_once_when_the_checks_wait_in_the_queue(services, delivery, monkeypatch) -> None:
    from studio.trainsets import service

    monkeypatch.setattr(service, "SHOW_WAIT_S", 0.2)
    await services.trainsets.create(ALICE, "busy")
    await services.trainsets.add(ALICE, _bytes(face(1)))  # the queue is not started: nothing runs
    view = await services.trainsets.show(ALICE)
    assert [i.number for i in view.items] == [1]
    assert not view.verdict.ready
    assert view.verdict.summary.endswith(
        "And the image checks are still queued: /trainset check shows them when they are done."
    )


async def test_picking_follows_the_servers_role_list(services, delivery) -> None:
    await services.jobs.start()
    await services.trainsets.create(BOB, "roles")
    first, _ = await _grid_images(services, BOB)
    await services.db.guild_settings.update(GUILD, allowed_role_ids=(555,))
    with pytest.raises(Refused, match="roles"):
        await services.curation.pick(BOB, None, first)
    assert (await services.curation.pick(replace(BOB, role_ids=(555,)), None, first))[0].number == 1


def test_the_outlier_minimum_is_the_engines() -> None:
    from engine.training import checks as dataset_checks
    from studio.trainsets.api import OUTLIER_MIN_SET

    assert OUTLIER_MIN_SET == dataset_checks.OUTLIER_MIN_SET


def test_a_check_request_names_its_base_model_and_older_ones_still_load() -> None:
    from studio.trainsets.check import CheckRequest

    request = CheckRequest(3, ("a.png", "b.png"), 32, "tiny-world")
    assert CheckRequest.from_json(request.to_json()) == request
    older = {"v": 1, "set_id": 3, "paths": ["a.png"], "resolution": 512}  # stored before the model was named
    assert CheckRequest.from_json(older).model is None
