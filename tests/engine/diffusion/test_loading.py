from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import ModelSpec, family_preset, get_preset
from engine.diffusion.loading import load_base_pipeline, load_folder
from engine.errors import ModelUnavailable
from engine.tiny.models import ensure_tiny_folder


def _spec(source: str, family: str = "sd15", **kw) -> ModelSpec:
    return ModelSpec(name="custom", family=family, source=source, preset=family_preset(family), **kw)


@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt", ".pth"])
def test_pickle_checkpoints_are_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelUnavailable, match=r"pickle checkpoint.*only \.safetensors") as err:
        load_base_pipeline(_spec(str(path)), cache_dir=tmp_path)
    assert "\n" not in err.value.message


def test_missing_pickle_path_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="pickle"):
        load_base_pipeline(_spec(str(tmp_path / "gone.ckpt")), cache_dir=tmp_path)


def test_missing_hub_weights_give_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    spec = ModelSpec.from_preset(get_preset("sd15"))
    with pytest.raises(ModelUnavailable) as err:
        load_base_pipeline(spec, cache_dir=tmp_path)
    message = err.value.message
    assert "'sd15'" in message
    assert "hf download stable-diffusion-v1-5/stable-diffusion-v1-5" in message
    assert "studio models add NAME PATH --family sd15" in message  # or a local copy of the weights
    assert "STUDIO_DEFAULT_MODEL=tiny-world" in message  # and what runs without any
    assert "\n" not in message


def test_nonexistent_path_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="neither an existing local path nor a hub id"):
        load_base_pipeline(_spec(str(tmp_path / "nothing" / "here")), cache_dir=tmp_path)


def test_folder_without_model_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"no model_index\.json"):
        load_base_pipeline(_spec(str(tmp_path)), cache_dir=tmp_path)


def test_unsupported_family_is_refused(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="sd3", family="sd3", source="stabilityai/stable-diffusion-3-medium", preset=family_preset("sdxl")
    )
    with pytest.raises(ModelUnavailable, match="not supported"):
        load_base_pipeline(spec, cache_dir=tmp_path)


def test_tiny_folder_is_cached_and_reloaded(tiny_cache: Path, tmp_path: Path) -> None:
    folder = ensure_tiny_folder("tiny-sd", tiny_cache / "builtin")
    stamp = (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_folder("tiny-sd", tiny_cache / "builtin") == folder
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == stamp
    assert not list(folder.rglob("*.bin"))


def test_folder_saved_elsewhere_loads_as_a_local_model(tiny_cache: Path, tmp_path: Path) -> None:
    import torch

    pipe = load_folder(tiny_cache / "builtin" / "tiny-sdxl", "sdxl")
    target = tmp_path / "copy"
    pipe.save_pretrained(target, safe_serialization=True)
    loaded = load_base_pipeline(_spec(str(target), family="sdxl"), cache_dir=tmp_path)
    for name, tensor in pipe.unet.state_dict().items():
        assert torch.equal(tensor, loaded.unet.state_dict()[name]), name
    assert type(loaded).__name__ == "StableDiffusionXLPipeline"


def test_single_file_checkpoint_loads_like_its_folder(tiny_cache: Path, tmp_path: Path) -> None:
    import numpy as np
    import torch

    from tests.engine.ldm_export import save_ldm_checkpoint

    folder = tiny_cache / "builtin" / "tiny-sd"
    pipe = load_folder(folder, "sd15")
    checkpoint = save_ldm_checkpoint(pipe, tmp_path / "merge.safetensors")
    spec = _spec(str(checkpoint), config=str(folder))
    loaded = load_base_pipeline(spec, cache_dir=tmp_path)
    for part in ("unet", "vae", "text_encoder"):
        theirs = getattr(loaded, part).state_dict()
        for name, tensor in getattr(pipe, part).state_dict().items():
            assert torch.equal(tensor, theirs[name].reshape(tensor.shape)), f"{part}.{name}"
    args = {"prompt": "a boat", "num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}
    a = pipe(**args, generator=torch.Generator().manual_seed(0)).images
    b = loaded(**args, generator=torch.Generator().manual_seed(0)).images
    assert np.array_equal(a, b)


def test_hub_counts_as_offline_when_its_name_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from engine.diffusion import loading

    def no_dns(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid.example")
    monkeypatch.setattr(loading.socket, "getaddrinfo", no_dns)
    loading._hub_resolves.cache_clear()
    try:
        assert loading.hub_offline() is True
        monkeypatch.setattr(loading.socket, "getaddrinfo", lambda *a, **k: [("ok",)])
        monkeypatch.setenv("HF_ENDPOINT", "https://hub2.invalid.example")
        assert loading.hub_offline() is False
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert loading.hub_offline() is True
    finally:
        loading._hub_resolves.cache_clear()
