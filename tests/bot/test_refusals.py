"""Bad input and guild policy through /generate and the real services: private refusals, nothing queued; fairness."""

from __future__ import annotations

import pytest

from tests.bot.conftest import edits, job_of, reply
from tests.bot.fakediscord import USER_ID

FAST = {"steps": 2, "model": "tiny-sd"}
ROLE = 555_555_555


async def _refused(fake, studio, **slash) -> str:
    """Run /generate, expect a private refusal and an empty queue; return the refusal."""
    user_id = slash.get("user_id", USER_ID)
    before = await studio.services.db.jobs.list_for_user(user_id, limit=100)
    ix = fake.slash("generate", **slash)
    await fake.wait_for(lambda: ix.followups or ix.callback_type == 4)
    answer = reply(fake, ix)
    assert answer["flags"] & 64, answer
    assert fake.hanging() == []
    assert edits(fake, ix) == []  # never shown as queued
    assert await studio.queued_jobs() == []
    assert await studio.services.db.jobs.list_for_user(user_id, limit=100) == before
    return answer["content"]


@pytest.fixture
async def lora_for_the_wrong_family(studio, bot) -> str:
    # An SDXL LoRA registered on an SD 1.5 base: the model service must refuse the pair.
    await studio.services.db.models.add(
        "xl-style", "XL style", "lora", "sdxl", "/loras/xl-style.safetensors", base_model="tiny-sd"
    )
    return "xl-style"


@pytest.mark.parametrize(
    ("slash", "expected"),
    [
        ({"prompt": "   "}, "The prompt is empty. Describe the image you want."),
        # Discord's client enforces the option's 1000 characters; a raw API call does not.
        ({"prompt": "x" * 5000, "validate": False}, "The prompt is too long (5000 characters; at most 1000)."),
        ({"prompt": "a cat", "model": "no-such-model"}, "Unknown model 'no-such-model'."),
        ({"prompt": "a cat", "model": "xl-style"}, "LoRA 'xl-style' was trained for sdxl but its base 'tiny-sd'"),
        (
            {"prompt": "a cat", "steps": 150, "model": "tiny-sd"},
            "Steps must be a whole number from 1 to 50 for this model",
        ),
    ],
)
async def test_bad_input_is_refused_privately_and_nothing_is_queued(
    fake, studio, lora_for_the_wrong_family, slash, expected
) -> None:
    assert (await _refused(fake, studio, **slash)).startswith(expected)


async def test_daily_quota_set_through_settings(fake, studio, bot) -> None:
    await studio.settings("daily_quota", "3")
    ix = fake.slash("generate", prompt="a cat", count=2, **FAST)
    assert (await studio.wait(await job_of(fake, ix))).status == "done"
    text = await _refused(fake, studio, prompt="a dog", count=2, **FAST)
    assert text.startswith("Daily quota reached: 2 of 3 images used today, 1 left.")


async def test_allowed_roles_set_through_settings(fake, studio, bot) -> None:
    await studio.settings("allowed_role_ids", f"<@&{ROLE}>")
    text = await _refused(fake, studio, prompt="a cat", count=1, **FAST)
    assert text == f"Only members with one of these roles can make images here: <@&{ROLE}>."
    ix = fake.slash("generate", prompt="a cat", count=1, roles=(ROLE,), **FAST)
    assert (await studio.wait(await job_of(fake, ix))).status == "done"


async def test_concurrent_jobs_cap(fake, studio, make_bot) -> None:
    await make_bot(start=False)  # the first two jobs must still be waiting when the third comes
    for _ in range(2):
        await job_of(fake, fake.slash("generate", prompt="a cat", count=1, **FAST))
    ix = fake.slash("generate", prompt="one more", count=1, **FAST)
    await fake.wait_for(lambda: ix.followups)
    assert reply(fake, ix)["content"].startswith("You already have 2 job(s) waiting or running")
    assert reply(fake, ix)["flags"] & 64
    assert len(await studio.queued_jobs()) == 2


async def test_a_flood_from_one_user_does_not_starve_another(fake, studio, make_bot) -> None:
    await make_bot(start=False)  # all four wait first, so the order is the queue's, not the submit race's
    await studio.settings("max_concurrent_per_user", "5")
    flood = [fake.slash("generate", prompt=f"cat {i}", count=1, **FAST) for i in range(3)]
    flood_ids = [await job_of(fake, ix) for ix in flood]
    other = fake.slash("generate", prompt="a dog", count=1, user_id=USER_ID + 7, **FAST)
    other_id = await job_of(fake, other)
    assert "position 1" in edits(fake, other)[0]["content"]  # right after the flood's first, not fourth
    await studio.services.jobs.start()
    for job_id in [*flood_ids, other_id]:
        assert (await studio.wait(job_id)).status == "done"
    order = _delivery_order(fake, [*flood, other])
    assert order.index(other.token) == 1


def _delivery_order(fake, interactions) -> list[str]:
    """Interaction tokens in the order their result (an edit with an embed) reached the fake."""
    tokens = {ix.token for ix in interactions}
    order: list[str] = []
    for request in fake.requests:
        if request.method != "PATCH" or not (request.json or {}).get("embeds"):
            continue
        token = request.path.split("/")[3]
        if token in tokens and token not in order:
            order.append(token)
    return order
