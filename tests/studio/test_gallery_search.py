"""Searching, filtering and paging the gallery."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from studio.errors import Refused
from studio.gallery.access import search_terms
from studio.gallery.api import MAX_PAGE, ImageFilter
from tests.studio.gallery_seed import ALICE, BOB, GUILD, PUBLIC, make_job, viewer

PROMPTS = [
    "a red lighthouse at dusk",
    'a "quoted" castle (with brackets) AND OR NEAR',
    "café crème on a table",
    "ox in a field",
    "100% pure_water: a*b -c",
    "a blue boat",
]


@pytest.fixture
async def images(services, tmp_path: Path):
    made = []
    for prompt in PROMPTS:
        made += await make_job(services.db, ALICE.user_id, GUILD, [prompt], folder=tmp_path / "img", posted_in=PUBLIC)
    return made


async def _search(services, text: str, who=None) -> list[str]:
    page = await services.gallery.images(who or viewer(ALICE), ImageFilter(text=text))
    return [c.prompt for c in page.images]


async def test_search_finds_substrings_of_prompts_in_any_case(services, images) -> None:
    assert await _search(services, "ighthou") == ["a red lighthouse at dusk"]
    assert await _search(services, "LIGHTHOUSE DUSK") == ["a red lighthouse at dusk"]  # every word, anywhere
    assert await _search(services, "lighthouse boat") == []
    assert await _search(services, "CAFÉ") == ["café crème on a table"]
    assert await _search(services, "ox") == ["ox in a field"]  # under 3 characters: a plain substring match
    assert await _search(services, "boat a") == ["a blue boat"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"quoted"', [PROMPTS[1]]),
        ('"', [PROMPTS[1]]),
        ("(with", [PROMPTS[1]]),
        ("AND OR NEAR", [PROMPTS[1]]),
        ("NEAR(", []),
        ("100%", [PROMPTS[4]]),
        ("%", [PROMPTS[4]]),
        ("_", [PROMPTS[4]]),
        ("pure_water:", [PROMPTS[4]]),
        ("a*b -c", [PROMPTS[4]]),
        ("prompt:castle", []),
        ("*", [PROMPTS[4]]),
        ("^a", []),
        ("\\", []),
    ],
)
async def test_query_syntax_in_a_search_is_text(services, images, text: str, expected: list[str]) -> None:
    assert await _search(services, text) == expected


def test_search_terms_quote_every_word() -> None:
    assert search_terms('say "hi" ok') == ('"say" """hi"""', ("%ok%",))
    assert search_terms("  ") == (None, ())
    with pytest.raises(Refused):
        search_terms("x" * 201)


async def test_search_respects_visibility(services, images, tmp_path: Path) -> None:
    await make_job(services.db, ALICE.user_id, GUILD, ["a hidden lighthouse"], folder=tmp_path / "h")
    bob = viewer(BOB, PUBLIC)
    page = await services.gallery.images(bob, ImageFilter(scope="server", text="lighthouse"))
    assert [c.prompt for c in page.images] == ["a red lighthouse at dusk"]
    assert await _search(services, "lighthouse") == ["a hidden lighthouse", "a red lighthouse at dusk"]


async def test_filters_by_model_lora_and_date(services, clock_images) -> None:
    alice = viewer(ALICE)
    by_model = await services.gallery.images(alice, ImageFilter(model="SDXL-Base"))
    assert [c.prompt for c in by_model.images] == ["xl"]
    by_lora = await services.gallery.images(alice, ImageFilter(lora="my-style"))
    assert [c.prompt for c in by_lora.images] == ["styled"]
    picked_lora = await services.gallery.images(alice, ImageFilter(lora="picked-lora"))
    assert [c.prompt for c in picked_lora.images] == ["picked"]
    stamps = {c.prompt: c.created_at for c in (await services.gallery.images(alice, ImageFilter())).images}
    since = stamps["styled"]
    until = stamps["picked"]
    window = await services.gallery.images(alice, ImageFilter(since=since, until=until))
    assert [c.prompt for c in window.images] == ["styled"]
    with pytest.raises(Refused):
        await services.gallery.images(alice, ImageFilter(since=until, until=since))
    with pytest.raises(Refused):
        await services.gallery.images(alice, ImageFilter(since=datetime(2026, 1, 1)))  # noqa: DTZ001 - naive on purpose


@pytest.fixture
async def clock_images(services, tmp_path: Path):
    db, folder = services.db, tmp_path / "img"
    await make_job(db, ALICE.user_id, GUILD, ["xl"], folder=folder, model="sdxl-base")
    await make_job(db, ALICE.user_id, GUILD, ["styled"], folder=folder, loras=(("my-style", 0.8),))
    await make_job(db, ALICE.user_id, GUILD, ["picked"], folder=folder, model="picked-lora")


async def test_pages_cover_every_image_once_newest_first(services, tmp_path: Path) -> None:
    made = []
    for n in range(7):
        made += await make_job(
            services.db, ALICE.user_id, GUILD, [f"p{n}a", f"p{n}b", f"p{n}c"], folder=tmp_path / "img"
        )
    # Another member's images interleave and are skipped without leaving short or empty pages.
    await make_job(services.db, BOB.user_id, GUILD, ["bob's"], folder=tmp_path / "img")
    seen: list[int] = []
    before = None
    pages = 0
    while True:
        page = await services.gallery.images(viewer(ALICE), ImageFilter(before_id=before, limit=4))
        pages += 1
        seen += [c.image_id for c in page.images]
        if page.next_before_id is None:
            break
        assert len(page.images) == 4
        before = page.next_before_id
    assert seen == sorted((i.id for i in made), reverse=True)
    assert pages == 6  # 21 images by 4: five full pages and one of one


async def test_a_page_is_capped(services, tmp_path: Path) -> None:
    await make_job(services.db, ALICE.user_id, GUILD, [f"p{n}" for n in range(MAX_PAGE + 5)], folder=tmp_path / "i")
    page = await services.gallery.images(viewer(ALICE), ImageFilter(limit=10_000))
    assert len(page.images) == MAX_PAGE and page.next_before_id == page.images[-1].image_id
    rest = await services.gallery.images(viewer(ALICE), ImageFilter(before_id=page.next_before_id, limit=0))
    assert len(rest.images) == 1  # a limit below 1 reads as 1
