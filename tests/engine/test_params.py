"""GenerationParams and the family's own settings: typed checks, text parsing, and refusals in one line."""

from __future__ import annotations

from dataclasses import fields

import pytest

from engine.catalog import ModelSpec, get_preset, resolve
from engine.errors import InvalidRequest
from engine.params import ExtraSetting, GenerationParams, check_extras, parse_extras
from engine.types import GenerateRequest, ResolvedParams

SKIP = ExtraSetting("skip", int, "how far", low=1, high=4, a1111="Skip")
SHARP = ExtraSetting("sharp", bool, "crisper edges")
SHIFT = ExtraSetting("shift", float, "the noise schedule's shift", low=0.5, high=8.0)
STYLE = ExtraSetting("style", str, "a look", choices=("plain", "vivid"))


@pytest.mark.parametrize(
    ("setting", "given", "expected"),
    [
        (SKIP, "2", 2),
        (SKIP, 3, 3),
        (SKIP, 4.0, 4),
        (SHARP, "yes", True),
        (SHARP, "off", False),
        (SHARP, True, True),
        (SHIFT, "1.5", 1.5),
        (SHIFT, 3, 3.0),
        (STYLE, "vivid", "vivid"),
    ],
)
def test_a_setting_converts_what_users_type_to_its_type(setting, given, expected) -> None:
    value = setting.check(given)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("setting", "given", "needle"),
    [
        (SKIP, "0", "skip must be a whole number from 1 to 4"),
        (SKIP, "2.5", "skip must be a whole number from 1 to 4"),
        (SKIP, True, "skip must be a whole number"),
        (SKIP, "two", "skip must be a whole number"),
        (SHARP, "maybe", "sharp must be true or false"),
        (SHIFT, "nan", "shift must be a number from 0.5 to 8"),
        (SHIFT, "inf", "shift must be a number from 0.5 to 8"),
        (STYLE, "loud", "style must be one of plain, vivid"),
    ],
)
def test_a_wrong_value_is_refused_in_one_line_that_says_what_fits(setting, given, needle) -> None:
    with pytest.raises(InvalidRequest, match=needle) as caught:
        setting.check(given)
    assert "\n" not in str(caught.value)


def test_check_extras_types_what_the_family_declares_and_refuses_the_rest() -> None:
    assert check_extras({"skip": "2", "sharp": "on"}, (SKIP, SHARP), "Test") == {"skip": 2, "sharp": True}
    with pytest.raises(InvalidRequest, match=r"Test models take no setting 'blur' \(their own settings: skip\)"):
        check_extras({"blur": "1"}, (SKIP,), "Test")
    with pytest.raises(InvalidRequest, match=r"take no setting 'skip' \(their own settings: none\)"):
        check_extras({"skip": "2"}, (), "Test")


def test_settings_text_parses_pairs_and_refuses_a_word_without_a_value() -> None:
    assert parse_extras("clip_skip=2, Sharp=on  style=vivid") == {"clip_skip": "2", "sharp": "on", "style": "vivid"}
    assert parse_extras("") == {}
    for text in ("clip_skip", "=2", "clip_skip="):
        with pytest.raises(InvalidRequest, match="Write each setting as name=value"):
            parse_extras(text)


def test_describe_names_the_setting_its_bounds_and_what_it_does() -> None:
    assert SKIP.describe() == "skip (a whole number from 1 to 4): how far"
    assert STYLE.describe() == "style (one of plain, vivid): a look"


def test_every_request_type_carries_every_setting() -> None:
    # The layers pass settings on by name (`**p.settings()`): each type must have every one of them.
    names = {f.name for f in fields(GenerationParams)}
    for kind in (GenerateRequest, ResolvedParams):
        assert names <= {f.name for f in fields(kind)}, kind


def test_resolve_passes_every_setting_on_and_checks_extras_against_the_family() -> None:
    spec = ModelSpec.from_preset(get_preset("tiny-flux"))
    request = GenerateRequest(prompt="a fox", model="tiny-flux", count=2, seed=5, steps=3)
    params = resolve(request, spec)
    assert (params.count, params.seed, params.steps, params.extras) == (2, 5, 3, {})
    with pytest.raises(InvalidRequest, match="FLUX models take no setting 'clip_skip'"):
        resolve(GenerateRequest(prompt="a fox", model="tiny-flux", extras={"clip_skip": "2"}), spec)
