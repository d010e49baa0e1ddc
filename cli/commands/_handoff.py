"""Handing a job to the data folder's owner: when `studio web` or `studio run` with the web holds the folder, a job
command submits through the owner's local API (the studio's access token as Bearer), follows the job's event stream
in the terminal, and answers as the local path does.

The standard library's HTTP client keeps this free of a new dependency; it blocks, so every call runs in a thread.
Ctrl+C cancels the job through the API: the owner then ends its stream, which ends the thread.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from cli.commands._local import CliDelivery, with_services
from cli.commands._support import LOCAL, Interrupted
from studio.errors import StudioError
from studio.gallery.api import Viewer
from studio.images.api import JobResult
from studio.owner import FolderInUse, web_address

TOKEN_FILE = "web-token"  # noqa: S105 - the file's name (web.auth.TOKEN_FILE), not a secret
REQUEST_TIMEOUT_S = 60.0  # a bound on a dead owner; an event stream sends a ping every 15 s
INLINE_TIMEOUT_S = 1800.0  # a request that waits for its job (describe), a first model load included
Event = dict[str, Any]
LOSS = re.compile(r"loss [0-9.e+-]+")  # as the engine words a training step's detail

if TYPE_CHECKING:
    from studio.container import Services
    from studio.settings import Settings


def enable_hint(data_dir: Path) -> str:
    """How to let the next command hand its job over instead of being refused."""
    return (
        "To hand jobs to it instead, serve the web with the owner: `STUDIO_WEB_PORT=8765 studio run`, "
        f"or `studio web` (data folder {data_dir})."
    )


@dataclass(frozen=True)
class Owner:
    """The web the folder's owner serves: its base URL and the studio's access token."""

    url: str
    token: str = ""

    def __repr__(self) -> str:  # the token never reaches a log or a traceback
        return f"Owner(url={self.url!r})"


def find_owner(data_dir: Path) -> Owner | None:
    """The owner's web, when a live owner serves one and the token is readable; None otherwise."""
    url = web_address(data_dir)
    if url is None:
        return None
    try:
        token = (data_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Owner(url.rstrip("/"), token) if token else None


@dataclass(frozen=True)
class Body:
    """What a submission sends: JSON, or a form with files (multipart, as the upload routes take them)."""

    json: dict[str, Any] | None = None
    fields: Mapping[str, object] = field(default_factory=dict)  # None values are left out
    files: Mapping[str, tuple[Path, bytes]] = field(default_factory=dict)  # name -> (the file, its bytes)

    def encode(self) -> tuple[bytes, str]:
        """The request's bytes and content type."""
        if self.json is not None:
            return json.dumps(self.json).encode(), "application/json"
        boundary = secrets.token_hex(16)
        parts = [
            _part(boundary, f'name="{name}"', str(value).encode())
            for name, value in self.fields.items()
            if value is not None
        ]
        for name, (path, data) in self.files.items():
            safe = re.sub(r"[^\w.-]", "_", path.name) or "upload"  # the name is a label; the core reads the bytes
            parts.append(_part(boundary, f'name="{name}"; filename="{safe}"', data, "application/octet-stream"))
        return b"".join([*parts, f"--{boundary}--\r\n".encode()]), f"multipart/form-data; boundary={boundary}"


def _part(boundary: str, disposition: str, data: bytes, content_type: str | None = None) -> bytes:
    head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


class HandOff:
    """One job handed to the owner: submit, follow, cancel (blocking calls: run them in a thread)."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner

    def _open(self, method: str, path: str, body: Body | None = None, timeout: float = REQUEST_TIMEOUT_S) -> Any:
        headers = {"Authorization": f"Bearer {self._owner.token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = body.encode()
        request = urllib.request.Request(  # noqa: S310 - the owner's own http://127.0.0.1 address
            self._owner.url + path, data=data, method=method, headers=headers
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # `studio web token --rotate` since the owner started: it still knows the old one
                raise StudioError(
                    f"The studio at {self._owner.url} refused the token in {TOKEN_FILE}: was it rotated since the "
                    "studio started? Restart the studio, then run this again."
                ) from None
            raise StudioError(_detail(exc)) from None
        except OSError as exc:
            raise StudioError(f"The studio at {self._owner.url} did not answer ({exc}); is it still running?") from None

    def call(self, method: str, path: str, body: Body | None = None, timeout: float = REQUEST_TIMEOUT_S) -> Any:
        """A request; the decoded JSON answer, or StudioError with the API's one-line reason."""
        with self._open(method, path, body, timeout) as answer:
            return json.loads(answer.read() or b"null")

    def follow(self, job_id: int, on_event: Callable[[Event], None]) -> Event:
        """Read the job's events until its end (done, failed, cancelled); returns that last event."""
        with self._open("GET", f"/api/jobs/{job_id}/events") as stream:
            for event in _events(stream):
                on_event(event)
                if event.get("type") in ("done", "failed", "cancelled"):
                    return event
                if event.get("type") == "bye":
                    break
        raise StudioError(f"The studio stopped before job {job_id} ended; it goes on with it once started again.")


def _detail(exc: urllib.error.HTTPError) -> str:
    """The API's reason for an error answer, in one line."""
    try:
        detail = json.loads(exc.read()).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    if isinstance(detail, list):  # a validation error: the first field's message
        first = detail[0] if detail else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        detail = f"{where}: {first.get('msg')}" if where else first.get("msg")
    return str(detail or f"The studio answered {exc.code} {exc.reason}.")


def _events(stream: Any) -> Iterator[Event]:
    """Server-sent events as dicts: the `data:` lines of each frame, a blank line ending it; comments skipped."""
    data: list[str] = []
    for raw in stream:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []


class Bar:
    """The job's progress in the terminal, as the local path's bar shows it."""

    def __init__(self, job_id: int) -> None:
        self._job_id = job_id
        self._bar: tqdm | None = None

    def __call__(self, event: Event) -> None:
        if event.get("type") == "queued" and event.get("position"):
            tqdm.write(f"job {self._job_id}: position {event['position']} in the studio's queue", file=sys.stderr)
        if event.get("type") != "progress" or not event.get("total"):
            return
        if self._bar is None:
            self._bar = tqdm(
                total=event["total"], initial=event["step"], desc=f"job {self._job_id}", unit="step", leave=False
            )
        self._bar.total = event["total"]
        self._bar.n = event["step"]
        if loss := LOSS.search(str(event.get("detail") or "")):  # a training's step: its loss beside the bar
            self._bar.set_postfix_str(loss.group(0), refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


async def run_handed_off(owner: Owner, submit_path: str, body: Body | None, cancel_path: str | None = None) -> int:
    """Submit a job to the owner and follow it to its end; its id once done.

    A failed job raises StudioError with its message; Ctrl+C (the task's cancellation) cancels the job through the
    API (`cancel_path`, else the job's own cancel) and raises `Interrupted`, as the local path does.
    """
    client = HandOff(owner)
    ticket = await asyncio.to_thread(client.call, "POST", submit_path, body)
    job_id = int(ticket["job_id"])
    return await follow_handed_off(client, job_id, cancel_path)


async def follow_handed_off(client: HandOff, job_id: int, cancel_path: str | None = None) -> int:
    """Follow a handed-off job to its end, with the progress bar; see `run_handed_off`."""
    bar = Bar(job_id)
    following = asyncio.ensure_future(asyncio.to_thread(client.follow, job_id, bar))
    try:
        end = await asyncio.shield(following)
    except asyncio.CancelledError:
        bar.close()
        try:
            await asyncio.to_thread(client.call, "POST", cancel_path or f"/api/jobs/{job_id}/cancel")
        except StudioError as exc:
            raise Interrupted(f"could not cancel job {job_id} handed to the studio: {exc.user_message}") from None
        await asyncio.wait({following}, timeout=REQUEST_TIMEOUT_S)  # the owner ends the stream with the job
        if following.done() and not following.cancelled():
            following.exception()  # read: a stream that broke off after the cancel says nothing more
        raise Interrupted(f"cancelled job {job_id}") from None
    finally:
        bar.close()
    if end["type"] == "failed":
        raise StudioError(str(end.get("message") or f"Job {job_id} failed."))
    if end["type"] == "cancelled":
        raise StudioError(f"Job {job_id} was cancelled in the studio.")
    return job_id


def owner_or_refusal(settings: Settings, refused: FolderInUse) -> Owner:
    """The web-serving owner to hand a job to; without one, the refusal with how to enable the hand-off."""
    owner = find_owner(settings.data_dir)
    if owner is None:
        raise FolderInUse(f"{refused.user_message} {enable_hint(settings.data_dir)}") from None
    return owner


async def locally_or_handed_off(
    settings: Settings, work: Callable[[Services, CliDelivery], Awaitable[JobResult]], submit_path: str, body: Body
) -> JobResult:
    """Run `work` on this process's own queue; when another process owns the folder, hand the job to it instead."""
    try:
        result: JobResult = await with_services(settings, work)
    except FolderInUse as refused:
        result = await hand_off_images(settings, refused, submit_path, body)
    return result


async def hand_off_images(settings: Settings, refused: FolderInUse, submit_path: str, body: Body) -> JobResult:
    """Hand an image job to the folder's owner and return its result as the local path would (the owner wrote the
    files into the same data folder; read-only, beside it); without a web-serving owner, the refusal with a hint."""
    job_id = await run_handed_off(owner_or_refusal(settings, refused), submit_path, body)

    async def read(services: Services, _delivery: object) -> JobResult:
        return await services.gallery.job_result(Viewer(LOCAL), job_id)

    result: JobResult = await with_services(settings, read, start=False)
    return result


async def hand_off_describe(
    settings: Settings, refused: FolderInUse, image: Path, data: bytes, count: int
) -> list[str]:
    """The prompts the owner's /describe finds for an image. The route answers once the job is done, so Ctrl+C
    leaves that one job to finish in the studio (its id comes only with the answer)."""
    client = HandOff(owner_or_refusal(settings, refused))
    body = Body(fields={"count": count}, files={"image": (image, data)})
    try:
        answer = await asyncio.to_thread(client.call, "POST", "/api/describe", body, INLINE_TIMEOUT_S)
    except asyncio.CancelledError:
        raise Interrupted("interrupted: the studio finishes describing the image on its own") from None
    return [str(prompt) for prompt in answer["prompts"]]
