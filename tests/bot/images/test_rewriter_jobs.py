"""/vary and /edit with the optional prompt rewriter (STUDIO_REWRITER), through the real services."""

from __future__ import annotations

from typing import Any

import pytest

from engine.prompting.composer import compose
from engine.vision import catalog as vision_catalog
from engine.vision.rewriter import LocalLMRewriter, screen_rewrite
from studio.container import open_services
from studio.images.api import EditImageInput, VaryImageInput
from tests.bot.images.conftest import ALICE, host_for, mask_bytes, png_bytes, with_engine


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the runtime asks the catalog to load as a rewriter."""
    calls: list[str] = []
    real = vision_catalog.load_rewriter

    def spy(name: str, **kwargs: Any):
        calls.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(vision_catalog, "load_rewriter", spy)
    return calls


async def _vary(settings, tiny_manager, instruction: str):
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        await services.jobs.start()
        ticket = await services.edits.vary_image(ALICE, png_bytes(), VaryImageInput(instruction, count=1))
        job = await services.jobs.wait(ticket.job_id, 60)
        images = await services.db.images.for_job(ticket.job_id)
        assert job.status == "done", job.error
        shown = await services.followups.result(ticket.job_id)
    return job, images, shown


async def test_vary_with_the_tiny_lm_records_where_the_prompt_came_from(settings, tiny_manager, loads) -> None:
    settings = with_engine(settings, rewriter="tiny-lm")
    job, images, shown = await _vary(settings, tiny_manager, "make it a watercolor")
    r = job.result  # what the engine decided is the job's outcome
    assert loads == ["tiny-lm"]
    assert r["prompt_source"] in ("composer", "rewriter")
    assert shown.note == f"Output prompt: {r['full_prompt']}" and images[0].prompt == r["full_prompt"]
    plain = compose(r["description"], "make it a watercolor")
    assert r["negative"] == plain.negative_prompt
    if r["prompt_source"] == "composer":
        assert r["prompt"] == plain.prompt
    else:  # whatever the random model said, it passed the guard rails
        rewriter = vision_catalog.load_rewriter("tiny-lm")
        assert rewriter is not None
        raw = rewriter.generate(r["description"], "make it a watercolor", plain.prompt)
        screened = screen_rewrite(raw, description=r["description"], instruction="make it a watercolor", composed=plain)
        assert screened.prompt == r["prompt"]


async def test_an_accepted_rewrite_becomes_the_output_prompt(
    settings, tiny_manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, str]] = []

    def answer(self, description: str, instruction: str, draft: str) -> str:
        seen.append((description, instruction, draft))
        return f'Prompt: "{description}, watercolor painting, soft paper texture"'

    monkeypatch.setattr(LocalLMRewriter, "generate", answer)
    settings = with_engine(settings, rewriter="tiny-lm")
    job, images, shown = await _vary(settings, tiny_manager, "make it a watercolor without the frame")
    r = job.result
    description, _, draft = seen[0]
    assert draft == compose(description, "make it a watercolor without the frame").prompt
    assert r["prompt_source"] == "rewriter"
    assert r["prompt"] == f"{description}, watercolor painting, soft paper texture".lower()
    assert shown.note == f"Output prompt: {r['full_prompt']}" and r["full_prompt"] == r["prompt"]
    assert r["negative"] == "frame" and images[0].negative_prompt == "frame"
    assert images[0].prompt == r["prompt"]


async def test_edit_uses_the_rewriter_too(settings, tiny_manager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LocalLMRewriter, "generate", lambda self, d, i, draft: "a red umbrella over a grey street")
    settings = with_engine(settings, rewriter="tiny-lm")
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        await services.jobs.start()
        ticket = await services.edits.edit_image(
            ALICE, png_bytes(), EditImageInput("a red umbrella", count=1), mask_bytes()
        )
        job = await services.jobs.wait(ticket.job_id, 60)
    assert job.status == "done", job.error
    assert job.result["prompt_source"] == "rewriter" and job.result["prompt"] == "a red umbrella over a grey street"


async def test_with_none_no_language_model_is_loaded(settings, tiny_manager, loads) -> None:
    assert settings.engine.rewriter == "none"
    job, _, _ = await _vary(settings, tiny_manager, "make it a pencil sketch")
    assert loads == []
    assert job.result["prompt_source"] == "composer"
    assert job.result["prompt"] == compose(job.result["description"], "make it a pencil sketch").prompt


async def test_missing_rewriter_weights_fail_the_job_with_a_clear_message(
    settings, tiny_manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = with_engine(settings, rewriter="smollm2-360m-instruct")
    async with open_services(settings, host=host_for(settings, tiny_manager)) as services:
        await services.jobs.start()
        ticket = await services.edits.vary_image(ALICE, png_bytes(), VaryImageInput("make it blue", count=1))
        job = await services.jobs.wait(ticket.job_id, 60)
    assert job.status == "failed"
    assert "HuggingFaceTB/SmolLM2-360M-Instruct" in job.error and "STUDIO_REWRITER=smollm2-360m-instruct" in job.error
