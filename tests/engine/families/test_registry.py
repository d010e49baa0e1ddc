"""The family objects: one per runnable family, each declaring every member of the `Family` Protocol."""

from __future__ import annotations

import inspect

import pytest

from engine.catalog import SUPPORTED_FAMILIES, ModelSpec, get_preset
from engine.errors import InvalidRequest, ModelUnavailable
from engine.families.base import Family
from engine.families.registry import FAMILIES, denoiser_name, family_of


def _members() -> set[str]:
    declared = set(Family.__annotations__)
    methods = {name for name, _ in inspect.getmembers(Family, inspect.isfunction) if not name.startswith("_")}
    return declared | methods


def test_the_registry_holds_the_families_the_catalog_runs() -> None:
    assert tuple(FAMILIES) == SUPPORTED_FAMILIES
    assert all(family.id == key for key, family in FAMILIES.items())


@pytest.mark.parametrize("family_id", list(FAMILIES))
def test_each_family_declares_every_member(family_id: str) -> None:
    family = family_of(family_id)
    missing = [name for name in sorted(_members()) if not hasattr(family, name)]
    assert missing == []
    assert family.denoiser_name in ("unet", "transformer")
    # Its recipe says which family it is; a family that cannot train (yet) refuses in one line.
    refusals = {
        "zimage": r"^[^\n]*step-distilled[^\n]*$",
        "flux2": r"^[^\n]*cannot be trained here yet[^\n]*$",
        "qwen": r"^[^\n]*cannot be trained here: its 20 B transformer[^\n]*$",
    }
    if family_id in refusals:
        with pytest.raises(InvalidRequest, match=refusals[family_id]):
            family.recipe(None)
        return
    assert family.recipe(None).family == family_id


def test_an_unknown_family_is_refused_in_one_line() -> None:
    with pytest.raises(ModelUnavailable, match=r"'sd3' is not supported yet\. Supported families: sd15, sdxl, flux"):
        family_of("sd3")


def test_the_families_differ_where_the_engine_used_to_test_their_names() -> None:
    unet = [f for f in FAMILIES.values() if f.denoiser_name == "unet"]
    flow = [f for f in FAMILIES.values() if f.flow_matching]
    assert unet and flow and not set(map(id, unet)) & set(map(id, flow))
    for family in flow:  # flow matching: a transformer over 2×2 patches
        assert not family.convolutional and family.bucket_step == 16
    # Only Qwen-Image among them guides by true CFG, so only it has a use for a negative prompt.
    assert [f.id for f in flow if f.takes_negative_prompt] == ["qwen"]
    for family in unet:
        assert family.takes_negative_prompt and family.convolutional and family.bucket_step == 8
    assert [f.id for f in FAMILIES.values() if f.trains_text_encoder] == ["sd15"]
    assert denoiser_name("flux") == "transformer"


def test_call_options_and_memory_notes_come_from_the_family() -> None:
    dev, schnell, sdxl = (ModelSpec.from_preset(get_preset(name)) for name in ("flux-dev", "flux-schnell", "sdxl"))
    assert family_of(dev.family).call_options(dev.preset) == {"max_sequence_length": 512}
    assert family_of(schnell.family).call_options(schnell.preset) == {"max_sequence_length": 256}
    assert family_of(sdxl.family).call_options(sdxl.preset) == {}
    note = family_of(dev.family).memory_note(dev.preset)
    assert note is not None and note.startswith("bf16 from ~")
    assert family_of(sdxl.family).memory_note(sdxl.preset) is None
    assert family_of("flux").memory_note(get_preset("tiny-flux")) is None  # test models need no note


def test_zimage_turbo_runs_without_guidance_and_says_it_fits_a_16_gb_card() -> None:
    turbo = get_preset("zimage-turbo")
    zimage = family_of(turbo.family)
    assert (turbo.guidance_range, turbo.steps, turbo.licence) == ((0.0, 0.0), 8, "Apache-2.0")
    assert zimage.call_options(turbo) == {} and not zimage.takes_negative_prompt
    note = zimage.memory_note(turbo)
    assert note is not None and "16 GB card" in note and zimage.memory_note(get_preset("tiny-zimage")) is None


def test_klein_takes_several_references_and_kontext_one() -> None:
    klein, kontext = family_of("flux2"), family_of("flux")
    assert klein.max_references > 1 and kontext.max_references == 1
    assert family_of("flux2").call_options(get_preset("tiny-flux2")) == {"max_sequence_length": 32}
    note = klein.memory_note(get_preset("flux2-klein-9b"))
    assert note is not None and note.startswith("bf16 from ~")
    assert klein.memory_note(get_preset("flux2-klein-4b")) != note  # each size its own thresholds


def test_qwen_image_guides_by_true_cfg_and_says_what_memory_each_way_needs() -> None:
    p = qwen_image = get_preset("qwen-image")
    qwen = family_of(qwen_image.family)
    expected = ("Apache-2.0", 50, 4.0, (1328, 1328), (1.0, 10.0))
    assert (p.licence, p.steps, p.guidance, p.default_size, p.guidance_range) == expected
    assert qwen.takes_negative_prompt and qwen.call_options(qwen_image) == {} and not qwen.has_instruction_editor
    note = qwen.memory_note(qwen_image)
    assert note is not None and note.startswith("bf16 from ~61 GB free") and "int8/fp8 from ~27 GB" in note
    assert qwen.memory_note(get_preset("tiny-qwen")) is None
    with pytest.raises(InvalidRequest, match=r"^[^\n]*Qwen-Image-Edit needs torchvision[^\n]*$"):
        qwen.edit_inputs([], 64, 64)
