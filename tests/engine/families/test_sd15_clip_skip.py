"""SD 1.5's own setting, clip skip: A1111's number checked by the catalog and handed to diffusers at the call."""

from __future__ import annotations

from typing import Any

import pytest

from engine.catalog import ModelSpec, get_preset, resolve
from engine.diffusion.pipelines import PipelineManager
from engine.errors import InvalidRequest
from engine.tasks.generate import parameters_text
from engine.types import GenerateRequest
from tests.engine.conftest import STEPS, max_diff


def req(model: str = "tiny-sd", clip_skip: object = None, **kw: Any) -> GenerateRequest:
    extras = {} if clip_skip is None else {"clip_skip": clip_skip}
    return GenerateRequest(prompt="a lighthouse", model=model, steps=STEPS, count=1, seed=3, extras=extras, **kw)


def spy(manager: PipelineManager, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the keyword arguments of every pipeline call, still running the real pipeline."""
    calls: list[dict[str, Any]] = []
    real = manager._call_pipeline

    def recording(pipe: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(pipe, **kwargs)

    monkeypatch.setattr(manager, "_call_pipeline", recording)
    return calls


def test_clip_skip_2_reaches_the_pipeline_as_diffusers_1_and_changes_the_image(manager, sd_spec, monkeypatch) -> None:
    calls = spy(manager, monkeypatch)
    plain = manager.generate(req(), sd_spec)
    skipped = manager.generate(req(clip_skip="2"), sd_spec)  # typed as text, as a chat option or `--set` gives it
    assert "clip_skip" not in calls[0] and calls[1]["clip_skip"] == 1
    assert skipped.params.extras == {"clip_skip": 2} and plain.params.extras == {}
    assert max_diff(plain.images[0].image, skipped.images[0].image) > 0
    # The `text_model` alias for diffusers lives only during the call: LoRA loading tests for it to name keys.
    assert not hasattr(manager.pipeline(sd_spec).text_encoder, "text_model")


def test_clip_skip_1_is_no_skip(manager, sd_spec, monkeypatch) -> None:
    calls = spy(manager, monkeypatch)
    plain = manager.generate(req(), sd_spec)
    one = manager.generate(req(clip_skip=1), sd_spec)
    assert "clip_skip" not in calls[1]
    assert max_diff(plain.images[0].image, one.images[0].image) == 0


def test_img2img_takes_the_clip_skip_too(manager, sd_spec, monkeypatch) -> None:
    source = manager.generate(req(), sd_spec).images[0].image
    calls = spy(manager, monkeypatch)
    result = manager.generate(req(clip_skip=2, init_image=source, strength=0.6), sd_spec)
    assert result.params.mode == "img2img" and calls[0]["clip_skip"] == 1


def test_a_skip_deeper_than_the_text_encoder_is_refused_in_one_line(manager, sd_spec, monkeypatch) -> None:
    calls = spy(manager, monkeypatch)
    with pytest.raises(InvalidRequest, match="has 2 layers: use a clip skip of at most 2") as caught:
        manager.generate(req(clip_skip=3), sd_spec)  # tiny-sd's CLIP has two layers
    assert "\n" not in str(caught.value) and calls == []
    assert not hasattr(manager.pipeline(sd_spec).text_encoder, "text_model")


@pytest.mark.parametrize(("model", "label"), [("tiny-sdxl", "SDXL"), ("tiny-flux", "FLUX"), ("tiny-zimage", "Z-Image")])
def test_families_without_it_refuse_a_clip_skip(model, label) -> None:
    spec = ModelSpec.from_preset(get_preset(model))
    with pytest.raises(InvalidRequest, match=f"{label} models take no setting 'clip_skip'"):
        resolve(req(model, clip_skip=2), spec)


@pytest.mark.parametrize("value", [0, 5, True, "2.5", "two"])
def test_a_clip_skip_out_of_range_is_refused(sd_spec, value) -> None:
    with pytest.raises(InvalidRequest, match="clip_skip must be a whole number"):
        resolve(req(clip_skip=value), sd_spec)


def test_the_png_parameters_write_clip_skip_as_a1111_does(sd_spec) -> None:
    assert "Clip skip: 2" in parameters_text(resolve(req(clip_skip=2), sd_spec), 3)
    assert "Clip skip" not in parameters_text(resolve(req(), sd_spec), 3)
