"""One owner per data folder: the process that runs its job queue holds `<data_dir>/studio.lock`.

The lock is an advisory `flock` held for the owner's life; the OS drops it when the process ends, a kill -9
included, so the next owner recovers a crashed run's jobs. The file holds who owns the folder (pid, command,
start time), written after the lock is taken, so that a refused command can say who to wait for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from studio.errors import StudioError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock: the folder goes unguarded there (see `_try_lock`)
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "studio.lock"

log = logging.getLogger(__name__)


class FolderInUse(StudioError):
    """Another process owns the data folder's queue."""


@dataclass(frozen=True)
class Holder:
    """Who owns a data folder, as its lock file says."""

    pid: int
    command: str
    since: datetime

    def describe(self) -> str:
        today = datetime.now().astimezone().date()
        when = self.since.astimezone()
        at = f"{when:%H:%M}" if when.date() == today else f"{when:%Y-%m-%d %H:%M}"
        return f"`{self.command}` (pid {self.pid}, since {at})"


class OwnerLock:
    """The held lock; `release()` (or the process's end) frees the folder."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a stale name would mislead whoever reads the file next
        os.close(fd)  # closing the last descriptor drops the flock


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows: msvcrt's locks are mandatory, they would hide who owns it
        log.warning("no flock on this system: a second studio process on this data folder is not refused")
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(path: Path) -> Holder | None:
    """The owner named in a lock file; None when it names nobody (free, or the owner is still writing it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["command"]), datetime.fromisoformat(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acquire(data_dir: Path, command: str) -> OwnerLock:
    """Own `data_dir` for this process's life, or raise FolderInUse saying who owns it and what to do."""
    path = data_dir / LOCK_NAME
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    except OSError as exc:
        raise StudioError(f"Cannot open {path}: {exc.strerror or exc}; check the data folder's permissions.") from None
    if not _try_lock(fd):
        os.close(fd)
        holder = read_holder(path)
        who = holder.describe() if holder is not None else "another studio process"
        raise FolderInUse(
            f"The data folder {data_dir} is in use by {who}: wait for it to end or stop it "
            "(read-only commands such as `studio models list` and `studio train list` work meanwhile)."
        )
    record = {"pid": os.getpid(), "command": command, "since": datetime.now().astimezone().isoformat()}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(record).encode())
    return OwnerLock(path, fd)


# -- where the owner serves the web ----------------------------------------------------------------------------
# While the owner serves the web studio it names its address in `<data_dir>/web.json` (0600), so that a command
# refused the folder can hand its job to the owner through the local API instead (`cli/commands/_handoff.py`).

WEB_ADDRESS_NAME = "web.json"


def announce_web(data_dir: Path, url: str) -> None:
    """Say that this process serves the web at `url` (the base address, without its token)."""
    path = data_dir / WEB_ADDRESS_NAME
    partial = path.with_name(f".{WEB_ADDRESS_NAME}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"url": url, "pid": os.getpid()}, out)
    os.replace(partial, path)  # a reader sees the old file or the whole new one


def withdraw_web(data_dir: Path) -> None:
    """Remove this process's address (another process's, written since, stays)."""
    path = data_dir / WEB_ADDRESS_NAME
    with contextlib.suppress(OSError, ValueError, TypeError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def web_address(data_dir: Path) -> str | None:
    """The base URL the folder's owner serves the web at; None when no live owner announced one.

    The address counts only while the process that wrote it holds the folder's lock: a killed owner's file is stale.
    """
    try:
        data = json.loads((data_dir / WEB_ADDRESS_NAME).read_text(encoding="utf-8"))
        url, pid = str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    holder = read_holder(data_dir / LOCK_NAME)
    if holder is None or holder.pid != pid:
        return None
    try:
        os.kill(pid, 0)  # signal 0: is it there, nothing sent
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process, alive
    return url
