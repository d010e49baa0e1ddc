"""The model picker and model installation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.errors import NotFound, StudioError
from studio.models.admin import add_base_model, check_lora_file, import_lora
from studio.names import slugify, wildcard_name


def _lora_file(path: Path) -> Path:
    save_file({"unet.down.lora.down.weight": np.zeros((2, 2), dtype=np.float32)}, str(path))
    return path


async def test_autocomplete_puts_trained_loras_first_and_stays_within_25(services) -> None:
    for i in range(30):
        await services.db.models.add(
            name=f"style-{i:02d}",
            display_name=f"Style {i:02d}",
            kind="lora",
            family="sd15",
            source=f"/x/{i}.safetensors",
            base_model="tiny-sd",
            trigger_word=f"sty{i}",
            config={},
        )
    choices = await services.models.autocomplete("")
    assert len(choices) == 25
    assert choices[0].value == "style-29"  # newest trained first
    assert all(c.value.startswith("style-") for c in choices)
    narrowed = await services.models.autocomplete("style-03")
    assert [c.value for c in narrowed] == ["style-03"]
    assert [c.value for c in await services.models.autocomplete("tiny-sdxl")] == ["tiny-sdxl"]
    assert all(len(c.label) <= 100 for c in choices)


async def test_catalog_lists_presets_and_loras(services) -> None:
    await services.db.models.add(
        name="my-cat",
        display_name="My cat",
        kind="lora",
        family="sd15",
        source="/x.safetensors",
        base_model="tiny-sd",
        trigger_word="mycat",
        config={},
    )
    infos = await services.models.catalog()
    names = [i.name for i in infos]
    assert names[0] == "my-cat"
    assert {"tiny-sd", "tiny-sdxl", "sd15", "sdxl", "sdxl-turbo"} <= set(names)
    sdxl = next(i for i in infos if i.name == "sdxl")
    assert sdxl.vram_gb and sdxl.quality and sdxl.default_size


async def test_resolve_lora_and_family_mismatch(services) -> None:
    await services.db.models.add(
        name="xl-style",
        display_name="XL style",
        kind="lora",
        family="sdxl",
        source="/x.safetensors",
        base_model="tiny-sd",
        trigger_word=None,
        config={},
    )
    with pytest.raises(StudioError, match="trained for sdxl"):
        await services.models.resolve("xl-style")
    with pytest.raises(NotFound):
        await services.models.resolve("nope")
    resolved = await services.models.resolve(None)
    assert resolved.spec.name == "tiny-sd" and resolved.loras == ()


async def test_import_lora_and_refusals(services, settings, tmp_path: Path) -> None:
    good = _lora_file(tmp_path / "good.safetensors")
    record = await import_lora(settings, good, "My Cat!", "tiny-sd", "mycat", db=services.db)
    assert record.display_name == "My Cat!" and record.family == "sd15"  # kept as typed
    assert record.name.startswith("my-cat-")  # the file's name: a slug, with a hash as it lost the "!"
    assert Path(record.source).is_file() and Path(record.source).parent == settings.loras_dir.resolve()
    assert (await services.models.resolve("MY CAT!")).loras[0].name == record.name
    with pytest.raises(StudioError, match="installed already"):
        await import_lora(settings, good, "my cat!", "tiny-sd", db=services.db)
    pickle = tmp_path / "evil.ckpt"
    pickle.write_bytes(b"not really")
    with pytest.raises(StudioError, match="pickle"):
        check_lora_file(pickle)
    not_lora = tmp_path / "weights.safetensors"
    save_file({"conv.weight": np.zeros((1,), dtype=np.float32)}, str(not_lora))
    with pytest.raises(StudioError, match="no LoRA weights"):
        check_lora_file(not_lora)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 20)
    with pytest.raises(StudioError, match="not a valid"):
        check_lora_file(garbage)


async def test_add_base_model(services, settings, tmp_path: Path) -> None:
    record = await add_base_model(settings, "Real Vis", "SG161222/RealVisXL_V4.0", "sdxl", db=services.db)
    assert record.display_name == "Real Vis" and record.kind == "base"
    resolved = await services.models.resolve("real vis")
    assert resolved.spec.source == "SG161222/RealVisXL_V4.0" and resolved.spec.family == "sdxl"
    with pytest.raises(StudioError, match="pickle"):
        await add_base_model(settings, "bad", str(tmp_path / "model.ckpt"), "sd15", db=services.db)
    with pytest.raises(StudioError, match="neither"):
        await add_base_model(settings, "bad", "not a hub id", "sd15", db=services.db)


@pytest.mark.parametrize(
    ("name", "slug"), [("My Cat!", "my-cat"), ("../../etc/passwd", "etc-passwd"), ("Ünï cøde", "n-c-de")]
)
def test_slugify_makes_safe_names(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_slugify_refuses_empty() -> None:
    with pytest.raises(StudioError):
        slugify("!!!")
    with pytest.raises(StudioError, match="at least one letter or digit"):
        wildcard_name("✨")


# Stored wildcard lists are found by these names (templates write `__my_places__`): the rule must not drift.
@pytest.mark.parametrize(("name", "stored"), [("My Places", "my_places"), ("café-bar", "caf_bar"), ("x.y", "x_y")])
def test_a_wildcard_keeps_the_name_templates_write(name: str, stored: str) -> None:
    assert wildcard_name(name) == stored


async def test_a_kontext_model_is_offered_for_sheets_only_once_its_weights_are_here(
    services, tmp_path: Path, monkeypatch
) -> None:
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert await services.models.instruct_model() is None  # test models do not count, and nothing is cached
    repo = cache / "models--black-forest-labs--FLUX.1-Kontext-dev"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model_index.json").write_text('{"_class_name": "FluxKontextPipeline"}')
    assert await services.models.instruct_model() == "flux-kontext"


async def test_vary_on_a_flux_model_goes_to_kontext_once_it_is_installed(services, tmp_path: Path, monkeypatch) -> None:
    import io

    import huggingface_hub.constants
    from PIL import Image

    from studio.contract import Caller
    from studio.images.api import VaryImageInput

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    caller = Caller(user_id=1, guild_id=42, channel_id=7)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    plain = await services.edits.vary_image(caller, buffer.getvalue(), VaryImageInput("a hat", model="tiny-flux"))
    assert (await services.db.jobs.get(plain.job_id)).request["chosen"] == "tiny-flux"  # no Kontext here yet
    repo = tmp_path / "hub" / "models--black-forest-labs--FLUX.1-Kontext-dev"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "model_index.json").write_text("{}")
    kontext = await services.edits.vary_image(caller, buffer.getvalue(), VaryImageInput("a hat", model="tiny-flux"))
    assert (await services.db.jobs.get(kontext.job_id)).request["chosen"] == "flux-kontext"
    other = Caller(user_id=2, guild_id=42, channel_id=7)  # two jobs wait per member
    sd = await services.edits.vary_image(other, buffer.getvalue(), VaryImageInput("a hat", model="tiny-sd"))
    assert (await services.db.jobs.get(sd.job_id)).request["chosen"] == "tiny-sd"  # SD stays image-to-image
