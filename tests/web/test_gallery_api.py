"""The gallery's API: browse, search, page, details, ⭐, collections, delete, zip, history, tokens, auto-posts.

The owner signs in with the studio's token (and sees every image); a member (42 of server 7) comes with an API token
of theirs, as a script does, and sees only their own images: another member's unposted image is 404 everywhere.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from tests.web.conftest import JOB_LIMIT_S, Studio, client_for
from web.auth import LOCAL_OWNER

MEMBER = Caller(user_id=42, guild_id=7, channel_id=3)


async def make(studio: Studio, caller: Caller, prompt: str, count: int = 1) -> list[int]:
    """Generate `count` images for `caller` on the fake engine; their ids."""
    ticket = await studio.services.generate.submit(caller, GenerateInput(prompt=prompt, count=count))
    assert (await studio.services.jobs.wait(ticket.job_id, JOB_LIMIT_S)).status == "done"
    result = await studio.services.gallery.job_result(Viewer(LOCAL_OWNER), ticket.job_id)
    return [image.image_id for image in result.images]


@pytest.fixture
async def member(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    made = await studio.services.tokens.create(MEMBER, "tests")
    async with client_for(studio, Authorization=f"Bearer {made.secret}") as script:
        yield script


async def test_search_filters_and_pages_by_cursor(owner: httpx.AsyncClient, studio: Studio) -> None:
    fox = await make(studio, LOCAL_OWNER, "a red fox in snow")
    whale = await make(studio, LOCAL_OWNER, "a blue whale")
    barn = await make(studio, LOCAL_OWNER, "a red barn at dawn")
    every = (await owner.get("/api/images")).json()
    assert [image["id"] for image in every["images"]] == barn + whale + fox  # newest first
    assert every["next_before_id"] is None
    red = (await owner.get("/api/images", params={"q": "red"})).json()["images"]
    assert [image["id"] for image in red] == barn + fox
    assert (await owner.get("/api/images", params={"q": "red fox"})).json()["images"][0][
        "prompt"
    ] == "a red fox in snow"
    seen, cursor = [], None
    while True:
        params = {"limit": 1} | ({"before_id": cursor} if cursor else {})
        page = (await owner.get("/api/images", params=params)).json()
        seen += [image["id"] for image in page["images"]]
        cursor = page["next_before_id"]
        if cursor is None:
            break
    assert seen == barn + whale + fox
    card = every["images"][0]
    assert card["thumb"] == f"/media/images/{barn[0]}/thumb" and card["page"] == f"/images/{barn[0]}" and card["mine"]
    later = (await owner.get("/api/images", params={"since": "2999-01-01T00:00:00Z"})).json()["images"]
    assert later == []
    assert (await owner.get("/api/images", params={"model": "no-such-model"})).json()["images"] == []
    assert (await owner.get("/api/images", params={"since": "yesterday"})).status_code == 422


async def test_detail_and_favourites(owner: httpx.AsyncClient, studio: Studio) -> None:
    first, second = await make(studio, LOCAL_OWNER, "two cats", count=2)
    detail = (await owner.get(f"/api/images/{first}")).json()
    assert detail["image"]["prompt"] == "two cats" and detail["image"]["favourite"] is False
    assert isinstance(detail["seed"], int) and detail["sha256"] and detail["collections"] == []
    assert (await owner.put(f"/api/images/{second}/favourite")).status_code == 200
    starred = (await owner.get("/api/images", params={"favourite": "true"})).json()["images"]
    assert [image["id"] for image in starred] == [second] and starred[0]["favourite"]
    assert (await owner.delete(f"/api/images/{second}/favourite")).status_code == 200
    assert (await owner.get("/api/images", params={"favourite": "true"})).json()["images"] == []
    assert (await owner.get("/api/images/999999")).status_code == 404


async def test_another_members_unposted_image_is_404_everywhere(member: httpx.AsyncClient, studio: Studio) -> None:
    (owners,) = await make(studio, LOCAL_OWNER, "the owner's secret")
    (theirs,) = await make(studio, MEMBER, "the member's own")
    collection = (await member.post("/api/collections", json={"name": "mine"})).json()["id"]
    refused = [
        await member.get(f"/api/images/{owners}"),
        await member.get(f"/media/images/{owners}"),
        await member.get(f"/media/images/{owners}/thumb"),
        await member.put(f"/api/images/{owners}/favourite"),
        await member.post("/api/images/zip", json={"image_ids": [theirs, owners]}),
        await member.post(f"/api/collections/{collection}/images", json={"image_ids": [owners]}),
        await member.request("DELETE", "/api/images", json={"image_ids": [owners]}),
    ]
    assert [answer.status_code for answer in refused] == [404] * len(refused), [a.text for a in refused]
    for scope in ("mine", "server"):
        listed = (await member.get("/api/images", params={"scope": scope})).json()["images"]
        assert owners not in [image["id"] for image in listed]
    assert [image["id"] for image in (await member.get("/api/images")).json()["images"]] == [theirs]
    assert (await member.get(f"/api/images/{theirs}")).status_code == 200
    assert "the owner's" not in (await member.get("/api/history")).text


async def test_favourites_and_collections_are_their_owners_alone(
    owner: httpx.AsyncClient, member: httpx.AsyncClient, studio: Studio
) -> None:
    (theirs,) = await make(studio, MEMBER, "a member's star")
    assert (await member.put(f"/api/images/{theirs}/favourite")).status_code == 200
    made = await member.post("/api/collections", json={"name": "Members only"})
    assert made.status_code == 201
    collection = made.json()["id"]
    assert (await member.post(f"/api/collections/{collection}/images", json={"image_ids": [theirs]})).json() == {
        "changed": 1
    }
    assert (await owner.get(f"/api/images/{theirs}")).json()["image"]["favourite"] is False  # their star, not ours
    assert (await owner.get("/api/images", params={"favourite": "true"})).json()["images"] == []
    assert (await owner.get("/api/collections")).json() == []
    for answer in [
        await owner.get(f"/api/collections/{collection}"),
        await owner.get("/api/images", params={"collection": collection}),
        await owner.patch(f"/api/collections/{collection}", json={"name": "ours"}),
        await owner.delete(f"/api/collections/{collection}"),
        await owner.post(f"/api/collections/{collection}/images", json={"image_ids": [theirs]}),
    ]:
        assert answer.status_code == 404, answer.text
    assert (await owner.get(f"/collections/{collection}")).status_code == 404  # nor its page


async def test_collections_from_creation_to_deletion(owner: httpx.AsyncClient, studio: Studio) -> None:
    ids = await make(studio, LOCAL_OWNER, "three birds", count=4)
    made = (await owner.post("/api/collections", json={"name": "Birds"})).json()
    assert made["size"] == 0
    path = f"/api/collections/{made['id']}"
    assert (await owner.post(f"{path}/images", json={"image_ids": ids[:3]})).json()["changed"] == 3
    assert (await owner.post(f"{path}/images", json={"image_ids": ids[:2]})).json()["changed"] == 0  # already in
    inside = (await owner.get("/api/images", params={"collection": made["id"]})).json()["images"]
    assert sorted(image["id"] for image in inside) == sorted(ids[:3])
    assert [c["name"] for c in (await owner.get(f"/api/images/{ids[0]}")).json()["collections"]] == ["Birds"]
    assert (await owner.request("DELETE", f"{path}/images", json={"image_ids": [ids[0]]})).json()["changed"] == 1
    renamed = (await owner.patch(path, json={"name": "Small birds"})).json()
    assert (renamed["name"], renamed["size"]) == ("Small birds", 2)
    assert [c["name"] for c in (await owner.get("/api/collections")).json()] == ["Small birds"]
    assert (await owner.post("/api/collections", json={"name": "small BIRDS"})).status_code == 409
    assert (await owner.post(f"{path}/images", json={"image_ids": []})).status_code == 422
    assert (await owner.delete(path)).status_code == 200
    assert (await owner.get(path)).status_code == 404
    assert len((await owner.get("/api/images")).json()["images"]) == 4  # the images stay


async def test_only_own_images_are_deleted_with_their_thumbnails(
    owner: httpx.AsyncClient, member: httpx.AsyncClient, studio: Studio
) -> None:
    (theirs,) = await make(studio, MEMBER, "the member's to keep or not")
    (ours,) = await make(studio, LOCAL_OWNER, "the owner's")
    assert (await member.get(f"/media/images/{theirs}/thumb")).status_code == 200
    thumbs = studio.settings.thumbs_dir
    assert len(list(thumbs.glob("*.webp"))) == 1
    # The owner sees every image, but deletes only their own: all or none.
    refused = await owner.request("DELETE", "/api/images", json={"image_ids": [ours, theirs]})
    assert refused.status_code == 409 and "another member's" in refused.json()["detail"]
    assert (await owner.get(f"/api/images/{ours}")).status_code == 200
    deleted = await member.request("DELETE", "/api/images", json={"image_ids": [theirs]})
    assert deleted.status_code == 200 and deleted.json() == {"image_ids": [theirs], "files": 1}
    assert (await member.get(f"/media/images/{theirs}")).status_code == 404
    assert list(thumbs.glob("*.webp")) == []  # the thumbnail went with it
    assert (await owner.request("DELETE", "/api/images", json={"image_ids": [ours]})).status_code == 200


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the zips are made in, empty but for them."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


async def test_a_zip_holds_exactly_the_picked_images(owner: httpx.AsyncClient, studio: Studio, temp_dir: Path) -> None:
    ids = await make(studio, LOCAL_OWNER, "four for the zip", count=4)
    answer = await owner.post("/api/images/zip", json={"image_ids": [ids[1], ids[3]]})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert "studio-images.zip" in answer.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = sorted(archive.namelist())
    assert [name.split("-")[0] for name in names] == [str(ids[1]), str(ids[3])]
    for name in names:
        image_id = int(name.split("-")[0])
        card = await studio.services.gallery.image(Viewer(LOCAL_OWNER), image_id)
        assert archive.read(name) == card.path.read_bytes()
    assert list(temp_dir.iterdir()) == []  # sent, then removed


async def test_a_zip_the_client_abandons_is_removed(owner: httpx.AsyncClient, studio: Studio, temp_dir: Path) -> None:
    """The connection drops as the body goes out (the server's send raises, as ASGI 2.4 says): no zip is left."""
    ids = await make(studio, LOCAL_OWNER, "a zip nobody takes", count=2)
    made: list[Path] = []

    async def dropped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_until_the_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                made.extend(temp_dir.iterdir())
                raise OSError("the client went away")
            await send(message)

        await studio.app(scope, receive, send_until_the_body)

    transport = httpx.ASGITransport(app=dropped)
    async with httpx.AsyncClient(
        transport=transport, base_url=owner.base_url, headers=owner.headers, cookies=owner.cookies
    ) as aborting:
        with pytest.raises(OSError, match="went away"):
            await aborting.post("/api/images/zip", json={"image_ids": ids})
    assert len(made) == 1 and made[0].suffix == ".zip"  # the zip existed while it was being sent
    assert list(temp_dir.iterdir()) == []


async def test_history_lists_my_jobs_with_their_parameters(owner: httpx.AsyncClient, studio: Studio) -> None:
    first = await make(studio, LOCAL_OWNER, "history one")
    await make(studio, LOCAL_OWNER, "history two", count=2)
    jobs = (await owner.get("/api/history")).json()["jobs"]
    assert [job["parameters"]["prompt"] for job in jobs] == ["history two", "history one"]
    assert jobs[1]["status"] == "done" and jobs[1]["image_ids"] == first and len(jobs[0]["image_ids"]) == 2
    assert not any("path" in key for job in jobs for key in job["parameters"])
    page = (await owner.get("/api/history", params={"limit": 1})).json()
    older = (await owner.get("/api/history", params={"before_id": page["next_before_id"]})).json()
    assert [j["job_id"] for j in page["jobs"] + older["jobs"]] == [j["job_id"] for j in jobs]
    rerun = await owner.post(f"/api/jobs/{jobs[1]['job_id']}/reroll")
    assert rerun.status_code == 202


async def test_a_tokens_secret_is_shown_once(owner: httpx.AsyncClient, studio: Studio) -> None:
    made = await owner.post("/api/tokens", json={"name": "backup script"})
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert len(secret) >= 20
    listed = await owner.get("/api/tokens")
    assert [t["name"] for t in listed.json()] == ["backup script"]
    assert secret not in listed.text and "secret" not in listed.text
    assert secret not in (await owner.get("/settings")).text
    async with client_for(studio, Authorization=f"Bearer {secret}") as script:
        assert (await script.get("/api/images")).status_code == 200
        assert (await owner.delete(f"/api/tokens/{made.json()['id']}")).status_code == 200
        assert (await script.get("/api/images")).status_code == 401
    assert (await owner.get("/api/tokens")).json() == []
    assert (await owner.delete("/api/tokens/12345")).status_code == 404


async def test_autoposts_are_for_managers(owner: httpx.AsyncClient, member: httpx.AsyncClient) -> None:
    body = {"channel_id": 5, "schedule": "daily 09:00", "prompt": "a sunrise"}
    assert (await member.post("/api/autoposts", json=body)).status_code == 409
    made = await owner.post("/api/autoposts", json=body)
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert schedule["enabled"] and schedule["prompt"] == "a sunrise"
    assert (await member.get("/api/autoposts")).json() == []  # their server's schedules: none
    assert (await member.post(f"/api/autoposts/{schedule['id']}/pause")).status_code == 409
    assert (await member.delete(f"/api/autoposts/{schedule['id']}")).status_code == 409
    assert (await owner.post(f"/api/autoposts/{schedule['id']}/pause")).json()["enabled"] is False
    assert (await owner.post(f"/api/autoposts/{schedule['id']}/resume")).json()["enabled"] is True
    assert [s["id"] for s in (await owner.get("/api/autoposts")).json()] == [schedule["id"]]
    assert (await owner.delete(f"/api/autoposts/{schedule['id']}")).status_code == 200
    assert (await owner.get("/api/autoposts")).json() == []
