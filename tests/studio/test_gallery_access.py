"""Who sees which image: every rule of studio/gallery/access.py, through every getter."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.errors import NotFound, Refused
from studio.gallery.api import ImageFilter, Viewer
from tests.studio.gallery_seed import (
    ALICE,
    BOB,
    CAROL,
    ELSEWHERE,
    GUILD,
    OTHER_GUILD,
    OWNER,
    PRIVATE,
    PUBLIC,
    make_job,
    viewer,
)


async def _ids(services, who: Viewer, scope: str = "server") -> list[int]:
    page = await services.gallery.images(who, ImageFilter(scope=scope))
    return [c.image_id for c in page.images]


async def _seen(services, who: Viewer, image_id: int) -> bool:
    try:
        await services.gallery.image(who, image_id)
    except NotFound:
        return False
    return True


@pytest.fixture
async def world(services, tmp_path: Path):
    db, folder = services.db, tmp_path / "images"
    return {
        "public": (await make_job(db, ALICE.user_id, GUILD, ["in public"], folder=folder, posted_in=PUBLIC))[0],
        "private": (await make_job(db, ALICE.user_id, GUILD, ["in private"], folder=folder, posted_in=PRIVATE))[0],
        "unposted": (await make_job(db, ALICE.user_id, GUILD, ["never posted"], folder=folder))[0],
        "adult": (
            await make_job(db, ALICE.user_id, GUILD, ["nsfw thing"], folder=folder, posted_in=PUBLIC, spoiler=True)
        )[0],
        "elsewhere": (
            await make_job(db, CAROL.user_id, OTHER_GUILD, ["other server"], folder=folder, posted_in=ELSEWHERE)
        )[0],
        "dm": (await make_job(db, ALICE.user_id, None, ["direct message"], folder=folder))[0],
    }


async def test_the_requester_sees_all_their_images_wherever_they_were_made(services, world) -> None:
    alice = viewer(ALICE)  # even with no channel in view
    mine = await _ids(services, alice, "mine")
    assert set(mine) == {w.id for k, w in world.items() if k != "elsewhere"}
    for name in ("public", "private", "unposted", "adult", "dm"):
        assert await _seen(services, alice, world[name].id), name
    card = await services.gallery.image(alice, world["adult"].id)
    assert card.mine and card.spoiler  # their own adult image, flagged for the page to blur


async def test_another_member_sees_only_what_was_posted_in_channels_they_may_view(services, world) -> None:
    bob = viewer(BOB, PUBLIC)
    assert await _ids(services, bob) == [world["public"].id]
    assert await _seen(services, bob, world["public"].id)
    for name in ("private", "unposted", "dm", "elsewhere", "adult"):
        assert not await _seen(services, bob, world[name].id), name
    # Given the private channel too, its image appears.
    assert set(await _ids(services, viewer(BOB, PUBLIC, PRIVATE))) == {world["public"].id, world["private"].id}
    # Bob's own gallery holds none of Alice's.
    assert await _ids(services, bob, "mine") == []
    card = await services.gallery.image(bob, world["public"].id)
    assert not card.mine and card.requester_id == ALICE.user_id


async def test_a_channel_id_of_another_server_shows_nothing_of_it(services, world) -> None:
    # Bob (of GUILD) claims the other server's channel: it counts only for his own server's posts.
    bob = viewer(BOB, PUBLIC, ELSEWHERE)
    assert not await _seen(services, bob, world["elsewhere"].id)
    carol = viewer(CAROL, ELSEWHERE, PUBLIC)
    assert await _ids(services, carol) == [world["elsewhere"].id]
    assert not await _seen(services, carol, world["public"].id)


async def test_adult_images_need_the_viewers_consent_and_the_servers_policy(services, world) -> None:
    adult = world["adult"].id
    assert not await _seen(services, viewer(BOB, PUBLIC, adult=True), adult)  # the server blocks adult content
    await services.db.guild_settings.update(GUILD, nsfw_policy="spoiler")
    assert not await _seen(services, viewer(BOB, PUBLIC), adult)  # the viewer did not opt in
    assert await _seen(services, viewer(BOB, PUBLIC, adult=True), adult)
    card = await services.gallery.image(viewer(BOB, PUBLIC, adult=True), adult)
    assert card.spoiler


async def test_the_machines_owner_sees_everything(services, world) -> None:
    owner = viewer(OWNER)
    assert set(await _ids(services, owner)) == {w.id for w in world.values()}
    for image in world.values():
        assert await _seen(services, owner, image.id)


async def test_every_getter_answers_not_found_for_an_unseen_image(services, world) -> None:
    bob = viewer(BOB, PUBLIC)
    hidden = world["private"]
    missing = max(w.id for w in world.values()) + 1
    for image_id in (hidden.id, missing):
        with pytest.raises(NotFound):
            await services.gallery.image(bob, image_id)
        with pytest.raises(NotFound):
            await services.gallery.detail(bob, image_id)
        with pytest.raises(NotFound):
            await services.collections.favourite(bob, image_id)
        with pytest.raises(NotFound):
            await services.gallery.delete(bob, [image_id])
        box = await services.collections.create(bob, f"box {image_id}")
        with pytest.raises(NotFound):
            await services.collections.add(bob, box.id, [image_id])
    # The messages read the same either way: nothing tells a hidden image from a missing one.
    texts = []
    for image_id in (hidden.id, missing):
        with pytest.raises(NotFound) as caught:
            await services.gallery.image(bob, image_id)
        texts.append(caught.value.message.replace(str(image_id), "N"))
    assert texts[0] == texts[1]


async def test_jobs_are_shown_to_others_only_through_images_they_may_see(services, world) -> None:
    bob = viewer(BOB, PUBLIC)
    public_job = world["public"].job_id
    view = await services.gallery.job(bob, public_job)
    assert not view.mine and [c.image_id for c in view.images] == [world["public"].id] and view.error is None
    for name in ("private", "unposted"):
        with pytest.raises(NotFound):
            await services.gallery.job(bob, world[name].job_id)
    queued = await services.db.jobs.create("generate", {"prompt": "secret"}, ALICE.user_id, guild_id=GUILD)
    with pytest.raises(NotFound):
        await services.gallery.job(bob, queued.id)
    mine = await services.gallery.job(viewer(ALICE), queued.id)
    assert mine.mine and mine.status == "queued" and mine.images == ()
    with pytest.raises(NotFound):
        await services.gallery.job(viewer(ALICE), 99_999)


async def test_only_the_requester_deletes_an_image(services, world) -> None:
    with pytest.raises(Refused):
        await services.gallery.delete(viewer(BOB, PUBLIC), [world["public"].id])
    with pytest.raises(Refused):  # not even the machine's owner deletes another's images
        await services.gallery.delete(viewer(OWNER), [world["public"].id])
    assert await _seen(services, viewer(BOB, PUBLIC), world["public"].id)


async def test_a_spoilered_generation_is_flagged_and_hidden_from_others_by_default(services, delivery) -> None:
    from studio.images.api import GenerateInput

    await services.db.guild_settings.update(GUILD, nsfw_policy="spoiler")
    await services.jobs.start()
    adult = await services.generate.submit(ALICE, GenerateInput(prompt="a nude statue", count=1, steps=2))
    plain = await services.generate.submit(ALICE, GenerateInput(prompt="a statue", count=1, steps=2))
    for ticket in (adult, plain):
        assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "done"
    page = await services.gallery.images(viewer(ALICE), ImageFilter())
    assert [(c.job_id, c.spoiler) for c in page.images] == [(plain.job_id, False), (adult.job_id, True)]
    for card in page.images:  # as if both were posted where Bob can look
        await services.db.posts.record(
            8000 + card.image_id, [card.image_id], "single", channel_id=PUBLIC, guild_id=GUILD
        )
    assert [
        c.job_id for c in (await services.gallery.images(viewer(BOB, PUBLIC), ImageFilter(scope="server"))).images
    ] == [plain.job_id]
    shown = await services.gallery.images(viewer(BOB, PUBLIC, adult=True), ImageFilter(scope="server"))
    assert [c.job_id for c in shown.images] == [plain.job_id, adult.job_id]
