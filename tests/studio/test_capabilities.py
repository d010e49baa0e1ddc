"""What a caller may do comes from the capabilities its adapter computed, never from where the request came from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cli.commands._support import LOCAL
from studio.contract import Caller
from studio.errors import Refused
from studio.images.api import GenerateInput
from tests.studio.conftest import ALICE, BOB, GUILD

FAST = {"steps": 2, "model": "tiny-sd", "count": 1}


async def test_cancelling_another_members_job_needs_may_moderate(services, delivery) -> None:
    queued = await services.generate.submit(ALICE, GenerateInput(prompt="a cat", **FAST))
    for without in (BOB, replace(BOB, may_manage_server=True), replace(BOB, origin="cli")):
        with pytest.raises(Refused, match="Only the person who asked for this job, or a moderator"):
            await services.jobs.cancel(without, queued.job_id)
    assert (await services.db.jobs.get(queued.job_id)).status == "queued"
    await services.jobs.cancel(replace(BOB, may_moderate=True), queued.job_id)
    assert (await services.db.jobs.get(queued.job_id)).status == "cancelled"


async def test_changing_a_setting_needs_may_manage_server(services) -> None:
    with pytest.raises(Refused, match="Manage Server"):
        await services.guild_settings.update(replace(BOB, may_moderate=True), "daily_quota", "3")
    await services.guild_settings.update(replace(BOB, may_manage_server=True), "daily_quota", "3")
    assert (await services.db.guild_settings.get(GUILD)).daily_quota == 3


async def test_the_origin_alone_grants_nothing(services, delivery) -> None:
    # A command-line origin without the owner's capabilities is a member in a DM: refused, as any member there.
    with pytest.raises(Refused, match="DMs"):
        await services.generate.submit(Caller(user_id=9, origin="cli"), GenerateInput(prompt="a cat", **FAST))


async def test_the_command_lines_caller_passes(services, delivery) -> None:
    assert LOCAL.may_moderate and LOCAL.may_manage_server and LOCAL.bypasses_server_policy
    mine = await services.generate.submit(LOCAL, GenerateInput(prompt="a cat", **FAST))  # no server: no DM rule
    assert (await services.db.jobs.get(mine.job_id)).origin == "cli"
    theirs = await services.generate.submit(ALICE, GenerateInput(prompt="a dog", **FAST))
    await services.jobs.cancel(LOCAL, theirs.job_id)  # the machine's owner moderates every job
    assert (await services.db.jobs.get(theirs.job_id)).status == "cancelled"
