"""The hashes AUTOMATIC1111 and Civitai identify model files by, computed once per file version.

A file version is its resolved path, size and modification time (ns): while they stay the same the file is not
read again. Digests live in memory and in a small SQLite file next to the models (the engine does not use the
bot's database), so a restart does not re-read gigabytes. Hashing is blocking I/O: call it on the worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_FILE = "file_hashes.sqlite3"
_CHUNK = 8 * 1024 * 1024  # big model files stream through in chunks: memory stays flat whatever their size
_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    tensor_sha256 TEXT
)
"""


@dataclass(frozen=True)
class FileDigest:
    """Both hashes of one file.

    `sha256` covers the whole file: A1111's checkpoint hash (its `Model hash` is the first 10 hex digits, Civitai's
    AutoV2). `tensor_sha256` covers a safetensors file after its header (kohya's `sshs_model_hash`, A1111's
    "addnet" hash): A1111's `Lora hashes` are its first 12 hex digits (Civitai's AutoV3), so editing a LoRA's
    metadata does not change them. None for a file that is not safetensors.
    """

    sha256: str
    tensor_sha256: str | None

    @property
    def model_hash(self) -> str:
        """A1111's `Model hash`: the first 10 hex digits of the whole file's sha256."""
        return self.sha256[:10]

    @property
    def lora_hash(self) -> str:
        """A1111's LoRA hash: the first 12 hex digits of the tensor sha256 (the file's for other formats)."""
        return (self.tensor_sha256 or self.sha256)[:12]


def _header_end(path: Path, size: int) -> int | None:
    """Where a safetensors file's tensors start (8-byte length + JSON header), or None if it is not one."""
    if path.suffix.lower() != ".safetensors" or size < 8:
        return None
    with path.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
    return 8 + length if 8 + length <= size else None


def compute_digest(path: Path, *, tensors: bool = True) -> FileDigest:
    """Read the file once and hash it both ways (the whole file only when `tensors` is False: half the work)."""
    size = path.stat().st_size
    tensors_at = _header_end(path, size) if tensors else None
    whole = hashlib.sha256()
    after_header = hashlib.sha256() if tensors_at is not None else None
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            whole.update(chunk)
            if after_header is not None and tensors_at is not None and offset + len(chunk) > tensors_at:
                after_header.update(chunk[max(0, tensors_at - offset) :])
            offset += len(chunk)
    return FileDigest(whole.hexdigest(), after_header.hexdigest() if after_header is not None else None)


class FileHashCache:
    """Digests by file version, in memory and (when `db_path` is given) in a SQLite file that outlives the process.

    A cache file that cannot be opened or written only costs re-hashing after a restart: a warning, never an error.
    """

    def __init__(self, db_path: Path | None) -> None:
        self.db_path = db_path
        self._memory: dict[tuple[str, int, int], FileDigest] = {}
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        assert self.db_path is not None
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.execute(_SCHEMA)
        return conn

    def _stored(self, key: tuple[str, int, int]) -> FileDigest | None:
        if self.db_path is None:
            return None
        try:
            with closing(self._db()) as conn:
                row = conn.execute(
                    "SELECT sha256, tensor_sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?", key
                ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            log.warning("The file-hash cache %s cannot be read (%s): hashing again", self.db_path, exc)
            return None
        return FileDigest(row[0], row[1]) if row else None

    def _store(self, key: tuple[str, int, int], digest: FileDigest) -> None:
        if self.db_path is None:
            return
        try:
            with closing(self._db()) as conn, conn:
                conn.execute(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256, tensor_sha256) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (*key, digest.sha256, digest.tensor_sha256),
                )
        except (sqlite3.Error, OSError) as exc:
            log.warning("The file-hash cache %s cannot be written (%s): the hash is kept in memory", self.db_path, exc)

    def digest(self, path: str | os.PathLike[str], *, tensors: bool = True) -> FileDigest:
        """The digest of the file at `path` (raises FileNotFoundError, like any other read, when it is gone).

        `tensors=False` (a base model: only its whole-file hash is written) skips the tensor hash; a digest
        stored without one is computed again when a caller needs it.
        """
        resolved = Path(path).expanduser().resolve()
        stat = resolved.stat()
        key = (str(resolved), stat.st_size, stat.st_mtime_ns)
        with self._lock:  # one thread hashes a file while the others wait for its result
            found = self._memory.get(key) or self._stored(key)
            if found is not None and tensors and found.tensor_sha256 is None and _header_end(resolved, stat.st_size):
                found = None
            if found is None:
                log.info("Hashing %s (%d bytes)", resolved, stat.st_size)
                found = compute_digest(resolved, tensors=tensors)
                self._store(key, found)
            self._memory[key] = found
            return found


_caches: dict[Path | None, FileHashCache] = {}
_caches_lock = threading.Lock()


def file_digest(
    path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, *, tensors: bool = True
) -> FileDigest:
    """The digest of `path`, remembered in `cache_dir`/file_hashes.sqlite3 (in memory only when None)."""
    db_path = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    with _caches_lock:
        cache = _caches.setdefault(db_path, FileHashCache(db_path))
    return cache.digest(path, tensors=tensors)


@dataclass(frozen=True)
class ResourceHashes:
    """What a job's images say about the files that made them, for A1111 and Civitai to find those files.

    `model_hash`: A1111's `Model hash`, only for a model loaded from one checkpoint file. A1111 always hashes the
    one file it loaded; a diffusers folder, a hub id or a built-in tiny model (written from its config) has no
    such file, and a hash over a folder's parts would match nothing on Civitai, so none is written.
    `lora_hashes`: A1111's `Lora hashes` (name → 12 hex, see FileDigest.lora_hash). `civitai`: the `Hashes`
    JSON of Civitai's A1111 extension ("model", "lora:<name>" → first 10 hex of the file's sha256).
    """

    model_hash: str | None = None
    lora_hashes: Mapping[str, str] = field(default_factory=dict)
    civitai: Mapping[str, str] = field(default_factory=dict)


def _digest_or_none(path: Path, cache_dir: str | os.PathLike[str] | None, *, tensors: bool) -> FileDigest | None:
    try:
        return file_digest(path, cache_dir, tensors=tensors)
    except OSError as exc:  # the images are made: a file that cannot be read only costs its hash in the metadata
        log.warning("Cannot hash %s for the image metadata: %s", path, exc)
        return None


def resource_hashes(
    model_source: str,
    loras: Iterable[tuple[str, str | os.PathLike[str]]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> ResourceHashes:
    """The hashes of a model (its catalog source) and its LoRAs ((name, file) pairs), cached in `cache_dir`."""
    model_hash = None
    civitai: dict[str, str] = {}
    source = Path(model_source.strip()).expanduser()
    if source.is_file() and (digest := _digest_or_none(source, cache_dir, tensors=False)) is not None:
        model_hash = digest.model_hash
        civitai["model"] = digest.model_hash
    lora_hashes: dict[str, str] = {}
    for name, path in loras:
        if (digest := _digest_or_none(Path(path).expanduser(), cache_dir, tensors=True)) is not None:
            lora_hashes[name] = digest.lora_hash
            civitai[f"lora:{name}"] = digest.sha256[:10]
    return ResourceHashes(model_hash, lora_hashes, civitai)
