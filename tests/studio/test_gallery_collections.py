"""Favourites, collections, image pages, deleting one's images, and a job's result as a viewer may see it."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.errors import NotFound, Refused
from studio.gallery.api import ImageFilter
from studio.images.api import GenerateInput
from tests.studio.gallery_seed import ALICE, BOB, GUILD, OWNER, PRIVATE, PUBLIC, make_job, viewer


@pytest.fixture
async def pair(services, tmp_path: Path):
    """Alice's grid of two posted in the public channel, and one of hers never posted."""
    grid = await make_job(services.db, ALICE.user_id, GUILD, ["a cat", "a dog"], folder=tmp_path, posted_in=PUBLIC)
    alone = await make_job(services.db, ALICE.user_id, GUILD, ["a secret"], folder=tmp_path)
    return grid, alone[0]


async def test_favourites_star_and_unstar_and_filter_the_gallery(services, pair) -> None:
    (_cat, dog), secret = pair
    bob = viewer(BOB, PUBLIC)
    assert await services.collections.favourite(bob, dog.id)
    assert not await services.collections.favourite(bob, dog.id)  # already starred
    page = await services.gallery.images(bob, ImageFilter(scope="server", favourites=True))
    assert [(c.image_id, c.favourite) for c in page.images] == [(dog.id, True)]
    assert not (await services.gallery.image(viewer(ALICE), dog.id)).favourite  # stars are each member's own
    assert await services.collections.favourite(bob, dog.id, on=False)
    assert (await services.gallery.images(bob, ImageFilter(scope="server", favourites=True))).images == ()
    with pytest.raises(NotFound):
        await services.collections.favourite(bob, secret.id)


async def test_a_collection_lives_and_dies_with_its_owner_only(services, pair) -> None:
    (cat, dog), secret = pair
    bob = viewer(BOB, PUBLIC)
    box = await services.collections.create(bob, "  Café Favs ")
    assert (box.name, box.size, box.guild_id) == ("Café Favs", 0, GUILD)  # kept as typed, trimmed
    with pytest.raises(Refused, match="already have"):
        await services.collections.create(bob, "CAFÉ   favs")  # the same name by its key
    assert await services.collections.add(bob, box.id, [cat.id, dog.id]) == 2
    assert await services.collections.add(bob, box.id, [dog.id]) == 0
    with pytest.raises(NotFound):  # all or none: one unseen image refuses the batch
        await services.collections.add(bob, box.id, [cat.id, secret.id])
    assert (await services.collections.get(bob, box.id)).size == 2
    page = await services.gallery.images(bob, ImageFilter(scope="server", collection_id=box.id))
    assert [c.image_id for c in page.images] == [dog.id, cat.id]
    # Another member neither sees nor changes it, nor lists by it; the same name is free for them.
    alice = viewer(ALICE)
    for call in (
        services.collections.get(alice, box.id),
        services.collections.rename(alice, box.id, "mine now"),
        services.collections.delete(alice, box.id),
        services.collections.add(alice, box.id, [cat.id]),
        services.collections.remove(alice, box.id, [cat.id]),
        services.gallery.images(alice, ImageFilter(collection_id=box.id)),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await services.collections.create(alice, "café favs")).name == "café favs"
    other = await services.collections.create(bob, "Other")
    with pytest.raises(Refused):
        await services.collections.rename(bob, other.id, "CAFÉ FAVS")
    renamed = await services.collections.rename(bob, box.id, "Best of")
    assert [c.name for c in await services.collections.list(bob)] == ["Best of", "Other"]
    assert await services.collections.remove(bob, box.id, [cat.id]) == 1
    detail = await services.gallery.detail(bob, dog.id)
    assert [c.name for c in detail.collections] == ["Best of"]
    assert await services.collections.delete(bob, renamed.id) == "Best of"
    assert await services.gallery.image(bob, dog.id)  # the images stay
    with pytest.raises(Refused):
        await services.collections.create(bob, "!!!")  # no letter or digit
    with pytest.raises(Refused):
        await services.collections.add(bob, other.id, [])


async def test_the_image_page_shows_how_it_was_made_and_where_the_viewer_saw_it(services, pair) -> None:
    (_cat, dog), _ = pair
    await services.db.posts.record(555, [dog.id], "single", channel_id=PRIVATE, guild_id=GUILD)  # upscaled there
    trainset = await services.db.training_sets.create("Pets", GUILD, ALICE.user_id)
    await services.db.training_sets.add_item(trainset.id, "/sets/pets/dog.png", added_by=ALICE.user_id, image_id=dog.id)
    detail = await services.gallery.detail(viewer(BOB, PUBLIC), dog.id)
    assert (detail.seed, detail.steps, detail.guidance, detail.scheduler, detail.base_model) == (
        101,
        4,
        7.5,
        "euler",
        "tiny-sd",
    )
    assert (detail.card.width, detail.card.prompt, detail.kind) == (64, "a dog", "generate")
    assert [p.channel_id for p in detail.posts] == [PUBLIC]  # not the message in the channel Bob can't view
    assert detail.posts[0].url == f"https://discord.com/channels/{GUILD}/{PUBLIC}/{detail.posts[0].message_id}"
    assert detail.sets == ("Pets",)
    mine = await services.gallery.detail(viewer(ALICE), dog.id)
    assert sorted(p.channel_id for p in mine.posts) == [PUBLIC, PRIVATE]


async def test_deleting_own_images_removes_rows_and_files_but_not_others_sets(services, pair) -> None:
    (cat, dog), secret = pair
    theirs = await services.db.training_sets.create("Bob's", GUILD, BOB.user_id)
    item = await services.db.training_sets.add_item(theirs.id, "/sets/b/cat.png", added_by=BOB.user_id, image_id=cat.id)
    await services.collections.favourite(viewer(BOB, PUBLIC), cat.id)
    deleted = await services.gallery.delete(viewer(ALICE), [cat.id, secret.id])
    assert deleted.image_ids == (cat.id, secret.id) and deleted.files == 2
    assert not cat.path.exists() and not secret.path.exists() and dog.path.exists()
    with pytest.raises(NotFound):
        await services.gallery.image(viewer(ALICE), cat.id)
    kept = await services.db.training_sets.item(item.id)
    assert kept is not None and kept.image_id is None
    assert [c.image_id for c in (await services.gallery.images(viewer(ALICE), ImageFilter())).images] == [dog.id]
    with pytest.raises(Refused):
        await services.gallery.delete(viewer(ALICE), [])


async def test_a_job_result_holds_only_the_images_the_viewer_may_see(services, delivery) -> None:
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="a fox", count=2, steps=2))
    assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "done"
    first, second = await services.db.images.for_job(ticket.job_id)
    alice = viewer(ALICE)
    full = await services.gallery.job_result(alice, ticket.job_id)
    assert [i.image_id for i in full.images] == [first.id, second.id]
    bob = viewer(BOB, PUBLIC)
    with pytest.raises(NotFound):  # not posted anywhere Bob can view
        await services.gallery.job_result(bob, ticket.job_id)
    await services.db.posts.record(777, [second.id], "single", channel_id=PUBLIC, guild_id=GUILD)
    partial = await services.gallery.job_result(bob, ticket.job_id)
    assert [i.image_id for i in partial.images] == [second.id] and partial.grid_path is None
    owner = await services.gallery.job_result(viewer(OWNER), ticket.job_id)
    assert len(owner.images) == 2
