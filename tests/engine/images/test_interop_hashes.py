"""File hashes as A1111 and Civitai compute them, read once per file version and remembered across restarts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.images import file_hashes
from engine.images.file_hashes import CACHE_FILE, FileHashCache, compute_digest, file_digest


def _lora(path: Path, note: str = "v1") -> Path:
    torch.manual_seed(0)
    save_file({"a.lora_down.weight": torch.randn(4, 8), "a.alpha": torch.tensor(4.0)}, str(path), {"note": note})
    return path


def _after_header(data: bytes) -> bytes:
    return data[8 + int.from_bytes(data[:8], "little") :]


def test_digest_hashes_the_whole_file_and_the_tensors_after_the_header(tmp_path: Path) -> None:
    path = _lora(tmp_path / "style.safetensors")
    data = path.read_bytes()
    digest = compute_digest(path)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.tensor_sha256 == hashlib.sha256(_after_header(data)).hexdigest()
    assert digest.model_hash == digest.sha256[:10]
    assert digest.lora_hash == digest.tensor_sha256[:12]


def test_a_metadata_edit_changes_the_file_hash_but_not_the_lora_hash(tmp_path: Path) -> None:
    first = compute_digest(_lora(tmp_path / "a.safetensors", note="short"))
    second = compute_digest(_lora(tmp_path / "b.safetensors", note="a much longer note that moves the tensors"))
    assert first.sha256 != second.sha256
    assert first.lora_hash == second.lora_hash


def test_chunk_boundaries_inside_the_header_do_not_change_the_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _lora(tmp_path / "style.safetensors")
    whole = compute_digest(path)
    monkeypatch.setattr(file_hashes, "_CHUNK", 7)  # header and tensors split over many odd-sized reads
    assert compute_digest(path) == whole


def test_a_file_that_is_not_safetensors_has_no_tensor_hash(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a model")
    digest = compute_digest(path)
    assert digest.tensor_sha256 is None
    assert digest.lora_hash == hashlib.sha256(b"not a model").hexdigest()[:12]


def test_each_file_version_is_read_once_even_after_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _lora(tmp_path / "style.safetensors")
    reads: list[Path] = []
    real = file_hashes.compute_digest
    monkeypatch.setattr(file_hashes, "compute_digest", lambda p, **kw: reads.append(p) or real(p, **kw))
    db = tmp_path / "cache" / CACHE_FILE
    first = FileHashCache(db).digest(path)
    assert FileHashCache(db).digest(path) == first  # a new process: the SQLite file answers
    assert len(reads) == 1
    _lora(path, note="rewritten with another header")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = FileHashCache(db).digest(path)
    assert len(reads) == 2
    assert changed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != first.sha256


def test_a_model_hashed_whole_is_hashed_again_when_its_tensor_hash_is_wanted(tmp_path: Path) -> None:
    path = _lora(tmp_path / "merge.safetensors")
    cache = FileHashCache(tmp_path / CACHE_FILE)
    whole_only = cache.digest(path, tensors=False)  # a base model: A1111 writes only the whole file's hash
    assert whole_only.tensor_sha256 is None
    assert FileHashCache(tmp_path / CACHE_FILE).digest(path) == compute_digest(path)


def test_an_unusable_cache_file_only_costs_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = _lora(tmp_path / "style.safetensors")
    digest = file_digest(path, cache_dir=blocker / "models")
    assert digest == compute_digest(path)
    assert "file-hash cache" in caplog.text


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "gone.safetensors", cache_dir=tmp_path)
