"""Auto-posts: scheduled generations posted to a Discord channel. The core holds the rules (Manage Server, as on
Discord); a member without them gets its refusal (409)."""

from __future__ import annotations

from fastapi import APIRouter

from studio.autopost.api import ScheduleOptions
from web.deps import Authenticated, Bundle, Who
from web.gallery_schemas import ScheduleIn, ScheduleOut
from web.schemas import Done

router = APIRouter(prefix="/api", tags=["autoposts"], dependencies=Authenticated)


@router.get("/autoposts", response_model=list[ScheduleOut])
async def schedules(bundle: Bundle, caller: Who) -> list[ScheduleOut]:
    """This server's schedules."""
    return [ScheduleOut.of(v) for v in await bundle.autopost.list(caller)]


@router.post("/autoposts", response_model=ScheduleOut, status_code=201)
async def create(body: ScheduleIn, bundle: Bundle, caller: Who) -> ScheduleOut:
    options = ScheduleOptions(
        prompt=body.prompt, model=body.model, count=body.count, caption=body.caption, name=body.name
    )
    return ScheduleOut.of(await bundle.autopost.add(caller, body.channel_id, body.schedule, options))


@router.post("/autoposts/{schedule_id}/pause", response_model=ScheduleOut)
async def pause(schedule_id: int, bundle: Bundle, caller: Who) -> ScheduleOut:
    return ScheduleOut.of(await bundle.autopost.pause(caller, schedule_id))


@router.post("/autoposts/{schedule_id}/resume", response_model=ScheduleOut)
async def resume(schedule_id: int, bundle: Bundle, caller: Who) -> ScheduleOut:
    return ScheduleOut.of(await bundle.autopost.resume(caller, schedule_id))


@router.delete("/autoposts/{schedule_id}", response_model=Done)
async def delete(schedule_id: int, bundle: Bundle, caller: Who) -> Done:
    await bundle.autopost.remove(caller, schedule_id)
    return Done()
