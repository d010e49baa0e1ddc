"""Our images as AUTOMATIC1111, Civitai and sd-parsers read them: A1111's sampler names, model and LoRA hashes."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sd_parsers import ParserManager
from sd_parsers.data import Generators

from engine.backends import WorkContext
from engine.catalog import ModelSpec, get_preset
from engine.diffusion.pipelines import PipelineManager
from engine.diffusion.schedulers import A1111_NAMES, a1111_sampler, scheduler_table
from engine.host import EngineConfig, EngineHost
from engine.images.file_hashes import compute_digest, resource_hashes
from engine.images.output import encode_for_upload, parse_a1111_parameters
from engine.tasks import generate
from engine.types import GenerateRequest, LoraSpec, ResolvedParams
from engine.work import GenerateTask, WorkOrder

PARSER = ParserManager()


def _params(scheduler: str = "dpmpp_2m_karras") -> ResolvedParams:
    return ResolvedParams(
        prompt="a lighthouse at dusk",
        negative="blurry",
        model="merge",
        family="sd15",
        count=2,
        seed=7,
        width=64,
        height=64,
        steps=3,
        guidance=6.5,
        scheduler=scheduler,
        loras=(("fox-style", 0.8),),
        mode="txt2img",
        strength=None,
    )


def _after_header(data: bytes) -> bytes:
    return data[8 + int.from_bytes(data[:8], "little") :]


def test_every_sampler_has_the_name_a1111_writes() -> None:
    assert set(A1111_NAMES) == set(scheduler_table())
    assert a1111_sampler("dpmpp_2m_karras") == ("DPM++ 2M", "Karras")
    assert a1111_sampler("euler_a") == ("Euler a", "Uniform")
    assert a1111_sampler("pndm") == ("PLMS", "Automatic")
    # A1111's "Automatic" would mean Karras for DPM++ 2M: the plain id must say what it ran.
    assert a1111_sampler("dpmpp_2m") == ("DPM++ 2M", "Uniform")


def test_hashes_name_only_a_model_that_is_one_file(tmp_path: Path) -> None:
    checkpoint = tmp_path / "merge.safetensors"
    checkpoint.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}weights")
    lora = tmp_path / "fox.safetensors"
    lora.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}lora-tensors")
    found = resource_hashes(str(checkpoint), [("fox-style", lora)], tmp_path)
    assert found.model_hash == hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    assert found.lora_hashes == {"fox-style": hashlib.sha256(b"lora-tensors").hexdigest()[:12]}
    assert found.civitai == {
        "model": found.model_hash,
        "lora:fox-style": hashlib.sha256(lora.read_bytes()).hexdigest()[:10],
    }
    # A folder, a built-in model or a hub id has no one file whose hash A1111 or Civitai could know.
    for source in (str(tmp_path), "builtin:tiny-sd", "owner/some-model"):
        assert resource_hashes(source, [], tmp_path).model_hash is None


def test_a_grid_too_big_for_png_keeps_its_parameters_in_exif(tmp_path: Path) -> None:
    checkpoint = tmp_path / "merge.safetensors"
    checkpoint.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}weights")
    lora = tmp_path / "fox.safetensors"
    lora.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}lora-tensors")
    text = generate.parameters_text(_params(), 7, resource_hashes(str(checkpoint), [("fox-style", lora)], tmp_path))
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    data, ext = encode_for_upload(Image.fromarray(noise, "RGB"), max_bytes=64 * 1024, parameters=text)
    assert ext in {"webp", "jpg"} and len(data) <= 64 * 1024
    with Image.open(io.BytesIO(data)) as image:
        info = PARSER.parse(image)
    assert info is not None and info.generator == Generators.AUTOMATIC1111
    sampler = info.samplers[0]
    assert (sampler.name, sampler.parameters["scheduler"]) == ("DPM++ 2M", "Karras")
    assert sampler.model is not None and sampler.model.hash == compute_digest(checkpoint).model_hash
    assert info.metadata["Hashes"]["lora:fox-style"] == compute_digest(lora).sha256[:10]


@pytest.mark.slow
def test_images_and_grid_of_a_job_read_back_with_sampler_and_hashes(tiny_cache: Path, lora_files, tmp_path) -> None:
    from tests.engine.ldm_export import save_ldm_checkpoint

    folder = tiny_cache / "builtin" / "tiny-sd"
    manager = PipelineManager("cpu", cache_dir=tmp_path / "models")
    checkpoint = save_ldm_checkpoint(
        manager.pipeline(ModelSpec.from_preset(get_preset("tiny-sd"))), tmp_path / "m.safetensors"
    )
    spec = ModelSpec("merge", "sd15", str(checkpoint), get_preset("tiny-sd"), config=str(folder))
    lora = LoraSpec("fox-style", lora_files.a_kohya, "sd15", 0.8)
    request = GenerateRequest(
        "a lighthouse", "merge", count=2, seed=7, steps=2, scheduler="dpmpp_2m_karras", loras=(lora,)
    )
    host = EngineHost(EngineConfig(), manager_factory=lambda: manager)
    ctx = WorkContext(1, threading.Event(), lambda _event: None)
    outcome = generate.run(WorkOrder(1, "generate", GenerateTask(request, spec), {}, tmp_path / "out"), ctx, host)

    model_hash = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    lora_bytes = Path(lora_files.a_kohya).read_bytes()
    assert outcome.grid is not None
    files = [(image.file.path, image.seed) for image in outcome.images] + [(outcome.grid.path, 7)]
    for path, seed in files:
        info = PARSER.parse(str(path))
        assert info is not None and info.generator == Generators.AUTOMATIC1111, path
        sampler = info.samplers[0]
        assert (sampler.name, sampler.parameters["scheduler"]) == ("DPM++ 2M", "Karras")
        assert sampler.parameters["seed"] == str(seed)
        assert sampler.model is not None and (sampler.model.name, sampler.model.hash) == ("merge", model_hash)
        # sd-parsers 0.6 splits `Lora hashes: "…"` at its inner colon: Civitai's `Hashes` JSON is what it reads.
        assert info.metadata["Hashes"] == {
            "model": model_hash,
            "lora:fox-style": hashlib.sha256(lora_bytes).hexdigest()[:10],
        }
        assert info.metadata["Version"].startswith("studio-bot")
        with Image.open(path) as image:
            ours = parse_a1111_parameters(image.info["parameters"])
        # A1111's own LoRA hash: the tensors after the safetensors header, first 12 hex digits.
        assert ours["lora_hashes"] == {"fox-style": hashlib.sha256(_after_header(lora_bytes)).hexdigest()[:12]}
        assert ours["loras"] == (("fox-style", 0.8),)
