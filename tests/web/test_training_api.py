"""The training side's API on the fake engine: sets (batch picks, uploads, captions, checks), character sheets,
plans, and who may see or change what: the core's rules, the same as in Discord."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from engine import OutputFile, TrainOutcome
from engine.images.output import write_bytes
from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from studio.training.api import PlanView, TrainOverrides
from studio.training.interrupted import last_checkpoint
from studio.training.kind import TrainRequest
from tests.studio.conftest import settle
from tests.web.conftest import BASE, JOB_LIMIT_S, Studio
from tests.web.test_access import COOKIE, MEMBER, MembersAuth
from web.app import create_app
from web.auth import LOCAL_OWNER

# A manager of server 8: not the member's server (7).
ELSEWHERE = Caller(user_id=51, guild_id=8, channel_id=9, may_manage_server=True, may_moderate=True)


def png(colour: tuple[int, int, int] = (200, 80, 40), size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


async def made_images(studio: Studio, caller: Caller = LOCAL_OWNER, count: int = 4) -> list[int]:
    ticket = await studio.services.generate.submit(caller, GenerateInput(prompt="a round figure", count=count))
    assert (await studio.services.jobs.wait(ticket.job_id, JOB_LIMIT_S)).status == "done"
    result = await studio.services.gallery.job_result(Viewer(caller), ticket.job_id)
    return [image.image_id for image in result.images]


async def test_a_set_is_made_filled_by_image_id_captioned_checked_and_emptied(
    owner: httpx.AsyncClient, studio: Studio
) -> None:
    made = await owner.post("/api/trainsets", json={"name": "Mila", "trigger_word": "zzmila"})
    assert made.status_code == 201, made.text
    assert made.json()["url"] == "/train/sets/Mila" and made.json()["size"] == 0
    ids = await made_images(studio)
    batch = await owner.post("/api/trainsets/mila/items:batch", json={"image_ids": [*ids[:3], 999_999, ids[0]]})
    assert batch.status_code == 200, batch.text
    assert [item["image_id"] for item in batch.json()["added"]] == ids[:3]
    (refused,) = batch.json()["refused"]  # the unknown id; the repeated one is asked once
    assert refused["image_id"] == 999_999 and "no image 999999" in refused["detail"]
    again = await owner.post("/api/trainsets/mila/items:batch", json={"image_ids": [ids[1]]})
    assert "already" in again.json()["refused"][0]["detail"]
    await settle(studio.services)  # the captions
    shown = (await owner.get("/api/trainsets/mila")).json()
    assert [i["number"] for i in shown["items"]] == [1, 2, 3] and shown["set"]["trigger_word"] == "zzmila"
    assert shown["verdict"]["count"] == 3 and shown["verdict"]["target"] == [20, 30] and shown["verdict"]["summary"]
    picture = await owner.get(shown["items"][0]["url"])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    caption = await owner.patch("/api/trainsets/mila/items/2", json={"caption": "zzmila waving"})
    assert caption.status_code == 200 and caption.json()["caption"] == "zzmila waving"
    assert caption.json()["caption_by_member"]
    out = await owner.delete(f"/api/trainsets/mila/images/{ids[0]}")  # deselected on the set page
    assert out.status_code == 200 and out.json()["image_id"] == ids[0]
    removed = await owner.delete("/api/trainsets/mila/items/1")
    assert removed.status_code == 200
    left = (await owner.get("/api/trainsets/mila")).json()["items"]
    assert [(i["number"], i["image_id"], i["caption"]) for i in left] == [(1, ids[2], left[0]["caption"])]
    verdict = await owner.post("/api/trainsets/mila/check")
    assert verdict.status_code == 200 and verdict.json()["count"] == 1 and not verdict.json()["ready"]
    listed = (await owner.get("/api/trainsets")).json()
    assert [(s["name"], s["size"]) for s in listed] == [("Mila", 1)]


async def test_uploads_are_checked_by_their_content(owner: httpx.AsyncClient, studio: Studio) -> None:
    await owner.post("/api/trainsets", json={"name": "ups"})
    files = [
        ("files", ("one.png", png(), "image/png")),
        ("files", ("fake.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png")),
    ]
    answer = await owner.post("/api/trainsets/ups/items", files=files)
    assert answer.status_code == 200, answer.text
    assert [item["source"] for item in answer.json()["added"]] == ["upload"]
    assert answer.json()["added"][0]["image_id"] is None
    (refused,) = answer.json()["refused"]
    assert refused.startswith("fake.png: ") and "\n" not in refused


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("post", "/api/trainsets", {"name": ""}, "at least 1 character"),
        ("post", "/api/trainsets/mila/items:batch", {"image_ids": []}, "at least 1 item"),
        ("post", "/api/trainsets/nope/items:batch", {"image_ids": [1]}, "no training set named 'nope'"),
        ("patch", "/api/trainsets/mila/items/9", {"caption": "x"}, "has no image 9"),
        ("post", "/api/training", {"set_name": "mila", "name": "x", "steps": 0}, "greater than or equal to 1"),
        ("post", "/api/training", {"set_name": "mila", "name": "Mila"}, "not ready to train"),
        ("post", "/api/training", {"set_name": "mila", "name": "x", "prior_images": -1}, "greater than or equal to 0"),
        ("get", "/api/training/99", None, "no training run 99"),
        ("get", "/media/training/1/pictures/biggest", None, "one of newest, scales"),
    ],
)
async def test_bad_input_is_one_line_saying_what_to_do(owner: httpx.AsyncClient, method, path, body, words) -> None:
    await owner.post("/api/trainsets", json={"name": "mila"})
    answer = await owner.request(method.upper(), path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    detail = answer.json()["detail"]
    text = detail if isinstance(detail, str) else "; ".join(d["msg"] for d in detail)
    assert words in text and "\n" not in text


async def test_a_character_sheet_fills_its_set_with_quick_select(owner: httpx.AsyncClient, studio: Studio) -> None:
    await owner.post("/api/trainsets", json={"name": "sheet"})
    answer = await owner.post(
        "/api/sheets", files={"image": ("ref.png", png(), "image/png")}, data={"set_name": "sheet", "count": "30"}
    )
    assert answer.status_code == 202, answer.text
    sheet = answer.json()
    assert sum(count for _group, count in sheet["groups"]) == 30 and len(sheet["groups"]) == len(sheet["job_ids"])
    assert len({group for group, _count in sheet["groups"]}) == 4
    for job_id in sheet["job_ids"]:
        assert (await studio.services.jobs.wait(job_id, JOB_LIMIT_S)).status == "done"
    picked = await owner.post(f"/api/sheets/{sheet['job_ids'][-1]}/quick-select")
    assert picked.status_code == 200, picked.text
    assert picked.json() == {"set_name": "sheet", "added": 25, "made": 30, "url": "/train/sets/sheet"}
    page = await owner.get(f"/train/sets/sheet?jobs={','.join(map(str, sheet['job_ids']))}")
    assert page.status_code == 200 and page.text.count('class="pick"') == 30
    not_a_sheet = await owner.post("/api/sheets", files={"image": ("x.png", b"not an image", "image/png")})
    assert not_a_sheet.status_code == 422 and "\n" not in not_a_sheet.json()["detail"]


async def test_a_member_reaches_neither_another_servers_sets_nor_its_runs(studio: Studio) -> None:
    services = studio.services
    await services.db.guild_settings.update(8, min_training_images=1)
    await services.trainsets.create(ELSEWHERE, "theirs")
    (image_id, *_rest) = await made_images(studio, ELSEWHERE, 1)
    await services.curation.pick(ELSEWHERE, "theirs", image_id)
    await settle(services)
    plan = await services.training.plan(ELSEWHERE, "theirs", "Theirs", TrainOverrides(steps=2))
    members = MembersAuth(studio.settings.data_dir)
    app = create_app(services, members, studio.server.events, studio.settings)
    session, cookie = members.new_session(MEMBER.user_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-CSRF-Token": session.csrf}
    ) as member:
        member.cookies.set(COOKIE, cookie)
        assert (await member.get("/api/trainsets")).json() == []
        run = plan.run_id
        refused = [
            await member.get("/api/trainsets/theirs"),
            await member.post("/api/trainsets/theirs/items:batch", json={"image_ids": [image_id]}),
            await member.delete(f"/api/trainsets/theirs/images/{image_id}"),
            await member.delete("/api/trainsets/theirs/items/1"),
            await member.patch("/api/trainsets/theirs/items/1", json={"caption": "mine"}),
            await member.get("/media/trainsets/theirs/items/1"),
            await member.post("/api/trainsets/theirs/check"),
            await member.get(f"/api/training/{run}"),
            await member.post(f"/api/training/{run}/start"),
            await member.post(f"/api/training/{run}/cancel"),
            await member.post(f"/api/training/{run}/checkpoint", json={"step": 1}),
            await member.get(f"/api/training/{run}/download"),
            await member.get(f"/api/training/{run}/log"),
            await member.get(f"/media/training/{run}/pictures/newest"),
            await member.get(f"/train/runs/{run}"),
            await member.get("/train/sets/theirs"),
        ]
        assert [a.status_code for a in refused] == [404] * len(refused), [(a.url.path, a.text) for a in refused]
        assert (await member.get("/api/training")).json() == []
        # In their own server a member who is not a trainer may make a set, and may not train on it.
        assert (await member.post("/api/trainsets", json={"name": "own"})).status_code == 201
        answer = await member.post("/api/training", json={"set_name": "own", "name": "Own"})
        assert answer.status_code == 409 and "needs Manage Server" in answer.json()["detail"]
        forced = await member.post("/api/training", json={"set_name": "own", "name": "Own", "force": True})
        assert forced.status_code == 409 and forced.json()["detail"].startswith("Only the studio's owner trains on")
    assert (await services.db.training_runs.get(run)).status == "planned"  # nobody started it
    assert len(await services.db.training_sets.items((await services.trainsets.list(ELSEWHERE))[0].id)) == 1


async def test_the_pages_render_for_the_owner(owner: httpx.AsyncClient, studio: Studio) -> None:
    await owner.post("/api/trainsets", json={"name": "mila"})
    for path, marker in [
        ("/train", 'id="hub"'),
        ("/train/sets/mila", 'id="set"'),
        ("/train/sheet", 'id="sheet"'),
        ("/train/new?set=mila", 'id="plan-form"'),
    ]:
        page = await owner.get(path)
        assert page.status_code == 200 and marker in page.text, path
        assert 'href="/train" aria-current="page"' in page.text or path != "/train"
    assert (await owner.get("/train/sets/nope")).status_code == 404
    assert (await owner.get("/models/nope/test")).status_code == 404
    assert (await owner.get("/train/runs/5")).status_code == 404


# A trainer of the member's server 7 (the member is not one, nor a moderator).
TRAINER = Caller(user_id=60, guild_id=7, channel_id=3, may_manage_server=True)


def _resuming_trainer(order, ctx, _host) -> TrainOutcome:
    """The trainer's contract on the fake engine: go on after the newest complete checkpoint in the run's folder."""
    task = order.request
    at = last_checkpoint(task.run_dir) or 0
    steps = task.config.steps
    for step in range(at + 1, steps + 1):
        ctx.report(step, steps, f"loss {1 / step:.4f}")
    lora = task.run_dir / "lora.safetensors"
    written = OutputFile(lora, *write_bytes(lora, b"weights"))
    return TrainOutcome(steps, steps, (), (), written, written, None, stopped=True, resumed_at=at)


async def _trainers_plan(studio: Studio, steps: int) -> PlanView:
    """The trainer's plan of a run on a set of one image (server 7 trains on one)."""
    services = studio.services
    await services.db.guild_settings.update(7, min_training_images=1)
    await services.trainsets.create(TRAINER, "left")
    (image_id, *_rest) = await made_images(studio, TRAINER, 1)
    await services.curation.pick(TRAINER, "left", image_id)
    await settle(services)
    return await services.training.plan(TRAINER, "left", "Left", TrainOverrides(steps=steps))


async def _left_queued(studio: Studio, steps: int, checkpoint: int) -> tuple[int, int]:
    """A run of server 7 whose job the bot left queued at its checkpoint (no bot runs here: the web alone serves);
    its run id and job id."""
    services = studio.services
    plan = await _trainers_plan(studio, steps)
    (item,) = await services.db.training_sets.items((await services.trainsets.list(TRAINER))[0].id)
    await services.db.training_runs.set_items(plan.run_id, [(str(item.path), "zzleft")])
    request = TrainRequest(plan.run_id, plan.model_name, "left", steps, plan.estimate_s)
    job = await services.db.jobs.create(
        "train", request.to_json(), TRAINER.user_id, guild_id=7, channel_id=3, origin="interaction", lane="batch"
    )
    await services.db.training_runs.started(plan.run_id, job.id)
    kept = services.training.registry.run_dir(plan.run_id) / f"ckpt-{checkpoint}"
    kept.mkdir(parents=True)
    for name in ("state.json", "optimizer.safetensors"):
        (kept / name).write_bytes(b"{}")
    return plan.run_id, job.id


async def test_an_interrupted_run_resumes_from_its_checkpoint_for_its_starter_or_the_owner_only(
    owner: httpx.AsyncClient, studio: Studio
) -> None:
    studio.host.register_task("train", _resuming_trainer)
    run_id, job_id = await _left_queued(studio, steps=6, checkpoint=3)
    assert (await studio.services.db.jobs.get(job_id)).status == "queued"  # nobody here runs the bot's jobs
    assert (await owner.get(f"/api/training/{run_id}")).json()["run"]["interrupted"] is True
    page = await owner.get(f"/train/runs/{run_id}")
    assert '<button id="resume" type="button" title=' in page.text  # shown, not hidden
    members = MembersAuth(studio.settings.data_dir)
    app = create_app(studio.services, members, studio.server.events, studio.settings)
    session, cookie = members.new_session(MEMBER.user_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-CSRF-Token": session.csrf}
    ) as member:
        member.cookies.set(COOKIE, cookie)
        refused = await member.post(f"/api/training/{run_id}/resume")
    assert refused.status_code == 409 and refused.json()["detail"].startswith("Only the member who started this")
    assert (await studio.services.db.jobs.get(job_id)).status == "queued"
    resumed = await owner.post(f"/api/training/{run_id}/resume")
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["job_id"] == job_id and resumed.json()["events_url"] == f"/api/jobs/{job_id}/events"
    job = await studio.services.jobs.wait(job_id, JOB_LIMIT_S)
    assert (job.status, job.origin) == ("done", "web"), job.error  # the same job, shown by the web from now on
    (order,) = [o for o in studio.host.orders if o.task == "train"]
    assert order.job_id == job_id and order.request.run_dir == studio.services.training.registry.run_dir(run_id)
    view = (await owner.get(f"/api/training/{run_id}")).json()
    steps = [step for step, _loss in view["losses"]]
    assert steps[-1] == 6 and min(steps) > 3  # on from the checkpoint, not from step 1
    assert view["run"]["status"] == "stopped" and view["run"]["interrupted"] is False
    assert '<button id="resume" type="button" hidden' in (await owner.get(f"/train/runs/{run_id}")).text
    assert (await studio.services.training.result(LOCAL_OWNER, run_id)).resumed_at == 3
    again = await owner.post(f"/api/training/{run_id}/resume")
    assert again.status_code == 409 and again.json()["detail"] == (
        f"Run {run_id} is stopped, not interrupted: only an unfinished run resumes."
    )


async def test_a_planned_run_is_not_resumed_but_started(owner: httpx.AsyncClient, studio: Studio) -> None:
    planned = await _trainers_plan(studio, steps=2)
    answer = await owner.post(f"/api/training/{planned.run_id}/resume")
    assert answer.status_code == 409 and answer.json()["detail"] == (
        f"Run {planned.run_id} is planned, not interrupted: only an unfinished run resumes."
    )


class TrainersAuth(MembersAuth):
    """Members' auth that also knows the trainer of server 7: one who may train, and may not force."""

    def caller(self, user_id: int) -> Caller:
        return TRAINER if user_id == TRAINER.user_id else super().caller(user_id)


async def _few(studio: Studio, caller: Caller, name: str, count: int = 4) -> None:
    """A set of `count` images: under the default minimum of 20."""
    await studio.services.trainsets.create(caller, name)
    for image_id in await made_images(studio, caller, count):
        await studio.services.curation.pick(caller, name, image_id)
    await settle(studio.services)


async def test_the_owner_may_train_anyway_on_a_set_under_its_minimum(owner: httpx.AsyncClient, studio: Studio) -> None:
    studio.host.register_task("train", _resuming_trainer)
    await _few(studio, LOCAL_OWNER, "few")
    refused = await owner.post("/api/training", json={"set_name": "few", "name": "Few", "steps": 2})
    assert refused.status_code == 409, refused.text
    assert "not ready to train" in refused.json()["detail"] and "\n" not in refused.json()["detail"]
    assert refused.json()["force_images"] == 4  # what the page's "Train anyway on 4 images" says
    forced = await owner.post("/api/training", json={"set_name": "few", "name": "Few", "steps": 2, "force": True})
    assert forced.status_code == 201, forced.text
    assert (forced.json()["images"], forced.json()["below_minimum"]) == (4, 20)
    started = await owner.post(forced.json()["start_url"])
    assert started.status_code == 202, started.text
    assert (await studio.services.jobs.wait(started.json()["job_id"], JOB_LIMIT_S)).status == "done"


async def test_a_trainer_who_is_not_the_owner_is_offered_no_force(studio: Studio) -> None:
    await _few(studio, TRAINER, "theirs")
    members = TrainersAuth(studio.settings.data_dir)
    app = create_app(studio.services, members, studio.server.events, studio.settings)
    session, cookie = members.new_session(TRAINER.user_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-CSRF-Token": session.csrf}
    ) as trainer:
        trainer.cookies.set(COOKIE, cookie)
        refused = await trainer.post("/api/training", json={"set_name": "theirs", "name": "Theirs"})
        assert refused.status_code == 409 and "not ready to train" in refused.json()["detail"]
        assert "force_images" not in refused.json()
        forced = await trainer.post("/api/training", json={"set_name": "theirs", "name": "Theirs", "force": True})
        assert forced.status_code == 409 and forced.json()["detail"].startswith("Only the studio's owner trains on")
    assert await studio.services.training.list(TRAINER) == []  # nothing planned


async def test_the_new_training_page_carries_the_train_anyway_button(owner: httpx.AsyncClient) -> None:
    page = await owner.get("/train/new")
    assert page.status_code == 200
    assert '<button id="force" type="button" hidden>' in page.text and "/static/train-new.js" in page.text
    script = (await owner.get("/static/train-new.js")).text
    assert "force_images" in script and "Train anyway on" in script and "force: forced" in script
