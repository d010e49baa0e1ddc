"""The optional language-model prompt rewriter: guard rails, the tiny test LM, loading and its failures."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from engine.errors import ModelUnavailable
from engine.prompting.composer import MAX_PROMPT_CHARS, compose
from engine.vision.catalog import load_rewriter, resolve_vision, rewriter_enabled, vision_presets
from engine.vision.rewriter import LocalLMRewriter, clean_output, screen_rewrite, tiny_rewriter

CAT = "a cat on a sofa"
HAT_CAT = "a cat with a hat on a sofa"
DOG = "a dog with a collar in a park"
W = "make it a watercolor"
WC = "a cat on a sofa, watercolor painting"  # the answer most cases expect
LONG = "a cat on a sofa, watercolor painting, " + ", ".join(f"soft detail number {i}" for i in range(60))


@pytest.mark.parametrize(
    ("description", "instruction", "raw", "expected"),
    [
        # accepted, cleaned
        (CAT, W, "a cat curled on a sofa, watercolor painting", "a cat curled on a sofa, watercolor painting"),
        (CAT, W, 'Prompt: "A cat on a sofa, Watercolor painting."', WC),
        (CAT, W, "**Output prompt:** 'a cat, watercolor painting'", "a cat, watercolor painting"),
        (CAT, W, f'Sure! Here is the rewritten prompt:\n\n"{WC}"\nIt keeps the cat.', WC),
        (CAT, W, "a  cat ,  on a sofa ,watercolor   painting", "a cat, on a sofa, watercolor painting"),
        (CAT, W, "Sure, a cat on a sofa, watercolor painting\tsoft", "a cat on a sofa, watercolor painting soft"),
        # the composer's reading of the instruction counts as its key words ("watercolour" → "watercolor painting")
        (CAT, "make it watercolour", "cat on a sofa, watercolor painting", "cat on a sofa, watercolor painting"),
        (CAT, "put it in a forest", "a cat sitting in a misty forest, moss", "a cat sitting in a misty forest, moss"),
        (CAT, "make it night", "a cat on a sofa at night, moonlight", "a cat on a sofa at night, moonlight"),
        # a pure removal has no key words to keep, only words not to say
        (HAT_CAT, "remove the hat", "a cat on a sofa, soft light", "a cat on a sofa, soft light"),
        # refused
        (CAT, W, "", None),
        (CAT, W, "  \n\n\t ", None),
        (CAT, W, "::::::::::::::::::::::::", None),
        (CAT, W, "Prompt:", None),
        (CAT, W, "watercolor", None),
        (CAT, W, "a cat sitting on a sofa in a cozy living room", None),
        (CAT, W, "watercolor " * 20, None),
        (CAT, "put it in a forest", "\n\na cat on a sofa\nin a forest", None),
        (HAT_CAT, "remove the hat", "a cat on a sofa, no hat", None),
        (HAT_CAT, "remove the hat", "a cat on a sofa without hats", None),
    ],
)
def test_guard_rails_on_raw_outputs(description: str, instruction: str, raw: str, expected: str | None) -> None:
    composed = compose(description, instruction)
    verdict = screen_rewrite(raw, description=description, instruction=instruction, composed=composed)
    assert verdict.prompt == expected, verdict.reason
    assert (verdict.reason == "accepted") == (expected is not None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty output"),
        ("watercolor", "too short"),
        ("watercolor " * 20, "repeats itself"),
        ("a cat sitting on a sofa in a cozy living room", "drops the instruction's key words"),
    ],
)
def test_refusals_say_why(raw: str, reason: str) -> None:
    composed = compose(CAT, "make it a watercolor")
    assert screen_rewrite(raw, description=CAT, instruction="make it a watercolor", composed=composed).reason == reason


def test_removed_words_are_named_in_the_reason() -> None:
    composed = compose(HAT_CAT, "remove the hat")
    verdict = screen_rewrite("a cat with a hat", description=HAT_CAT, instruction="remove the hat", composed=composed)
    assert verdict.prompt is None and verdict.reason == "names what the instruction removes (hat)"


def test_long_output_is_cut_at_a_boundary() -> None:
    cleaned = clean_output(LONG + "\nsecond line")
    assert len(cleaned) <= MAX_PROMPT_CHARS
    assert LONG.startswith(cleaned) and not cleaned.endswith((",", " "))
    assert LONG[len(cleaned)] in ", "


class _Scripted(LocalLMRewriter):
    """The real rewrite path with a scripted model answer (or failure) in place of generation."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str]] = []

    def generate(self, description: str, instruction: str, draft: str) -> str:
        self.calls.append((description, instruction, draft))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_an_accepted_rewrite_keeps_the_composers_negative_and_strength() -> None:
    plain = compose(DOG, "make it a watercolor without the collar")
    rewriter = _Scripted("Prompt: a happy dog in a park, watercolor painting, loose brush strokes")
    result = compose(DOG, "make it a watercolor without the collar", rewriter=rewriter)
    assert result.prompt == "a happy dog in a park, watercolor painting, loose brush strokes"
    assert result.source == "rewriter" and plain.source == "composer"
    assert (result.negative_prompt, result.strength_hint, result.rule) == (
        plain.negative_prompt,
        plain.strength_hint,
        plain.rule,
    )
    assert rewriter.calls == [(DOG, "make it a watercolor without the collar", plain.prompt)]


def test_a_refused_rewrite_falls_back_and_logs_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.vision.rewriter")
    plain = compose(CAT, "make it a watercolor")
    assert compose(CAT, "make it a watercolor", rewriter=_Scripted("a cozy living room")) == plain
    assert "refused (drops the instruction's key words)" in caplog.text


def test_a_generation_error_falls_back_and_logs_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.vision.rewriter")
    plain = compose(CAT, "make it a watercolor")
    assert compose(CAT, "make it a watercolor", rewriter=_Scripted(RuntimeError("CUDA error: boom"))) == plain
    failures = [r for r in caplog.records if "rewriter failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None and "CUDA error: boom" in caplog.text


# ---------------------------------------------------------------- the tiny test LM


@pytest.fixture(scope="module")
def tiny() -> LocalLMRewriter:
    rewriter = load_rewriter("tiny-lm")
    assert rewriter is not None
    return rewriter


def test_tiny_lm_is_deterministic_and_plain_prompted(tiny: LocalLMRewriter) -> None:
    text, templated = tiny.prompt_text(CAT, "make it a watercolor", "cat, watercolor painting")
    assert not templated and text.endswith("Prompt:") and "Change: make it a watercolor" in text
    first = tiny.generate(CAT, "make it a watercolor", "cat, watercolor painting")
    assert first != tiny.generate(CAT, "make it a pencil sketch", "cat, pencil sketch")  # it reads its input
    assert first == tiny.generate(CAT, "make it a watercolor", "cat, watercolor painting")
    # Another build from the same seed produces the same text.
    assert tiny_rewriter(0).generate(CAT, "make it a watercolor", "cat, watercolor painting") == first
    assert isinstance(first, str) and len(first) <= tiny.max_new_tokens


@pytest.mark.parametrize(
    ("description", "instruction"),
    [(CAT, "make it a watercolor"), (HAT_CAT, "remove the hat and put it on the moon"), ("a red car", "x")],
)
def test_compose_with_the_tiny_lm_always_gives_a_valid_prompt(
    tiny: LocalLMRewriter, description: str, instruction: str
) -> None:
    plain = compose(description, instruction)
    result = compose(description, instruction, rewriter=tiny)
    assert result.prompt and "\n" not in result.prompt and len(result.prompt) <= MAX_PROMPT_CHARS
    assert (result.negative_prompt, result.strength_hint) == (plain.negative_prompt, plain.strength_hint)
    if result.source == "composer":
        assert result == plain
    else:
        raw = tiny.generate(description, instruction, plain.prompt)
        assert screen_rewrite(raw, description=description, instruction=instruction, composed=plain).prompt == (
            result.prompt
        )


def test_a_chat_template_is_used_when_the_tokenizer_has_one() -> None:
    rewriter = tiny_rewriter(0)
    rewriter.tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    text, templated = rewriter.prompt_text(CAT, "make it a watercolor", "cat, watercolor painting")
    assert templated and text.startswith("<|system|>You write prompts") and text.endswith("<|assistant|>")
    assert text.count("<|user|>") == 2 and "Draft prompt: cat, watercolor painting" in text
    # A template that refuses a system turn gets the instructions folded into the first user turn.
    rewriter.tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    text, templated = rewriter.prompt_text(CAT, "make it a watercolor", "cat, watercolor painting")
    assert templated and text.startswith("[user] You write prompts") and "[system]" not in text
    assert isinstance(rewriter.generate(CAT, "make it a watercolor", "cat, watercolor painting"), str)


# ---------------------------------------------------------------- catalog and loading


def test_rewriter_catalog_and_settings(tmp_path: Path) -> None:
    assert [p.id for p in vision_presets("rewriter")] == ["qwen2.5-0.5b-instruct", "smollm2-360m-instruct", "tiny-lm"]
    assert resolve_vision("rewriter", "qwen2.5-0.5b-instruct").source == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_vision("rewriter", "smollm2-360m-instruct").source == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert not rewriter_enabled("none") and not rewriter_enabled(" None ") and not rewriter_enabled("")
    assert load_rewriter("none") is None
    with pytest.raises(ModelUnavailable, match=r"STUDIO_REWRITER='nope' is neither a catalog id \(none, qwen"):
        resolve_vision("rewriter", "nope")
    with pytest.raises(ModelUnavailable, match="is a captioner, not a rewriter"):
        resolve_vision("rewriter", "tiny-blip")
    folder = tmp_path / "blip"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "blip"}), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="does not hold a causal language model"):
        resolve_vision("rewriter", str(folder))


def test_missing_weights_name_the_model_the_setting_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as missing:
        load_rewriter("qwen2.5-0.5b-instruct", offline=False)
    message = missing.value.message
    assert "Qwen/Qwen2.5-0.5B-Instruct" in message and "STUDIO_REWRITER=qwen2.5-0.5b-instruct" in message
    assert "hf download Qwen/Qwen2.5-0.5B-Instruct" in message and "\n" not in message


def test_a_local_folder_loads_from_safetensors_only(tiny: LocalLMRewriter, tmp_path: Path) -> None:
    folder = tmp_path / "my-lm"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    assert list(folder.glob("*.safetensors"))
    loaded = load_rewriter(str(folder))
    assert isinstance(loaded, LocalLMRewriter) and loaded is not tiny
    args = (CAT, "make it a watercolor", "cat, watercolor painting")
    assert loaded.generate(*args) == tiny.generate(*args)
    ids = tiny.tokenizer("a cat on a sofa", return_tensors="pt").input_ids
    assert loaded.tokenizer("a cat on a sofa", return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.inference_mode():
        assert torch.equal(loaded.model(ids).logits, tiny.model(ids).logits)
    # Without the .safetensors file there is nothing it may load.
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelUnavailable, match=r"could not be loaded from .*my-lm.*\.safetensors weights"):
        load_rewriter(str(folder))
