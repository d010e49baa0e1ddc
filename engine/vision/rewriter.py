"""An optional local instruction-tuned language model that rewrites the composer's prompt for /vary and /edit.

The composer's prompt is the draft and the safe answer: the model's version replaces it only when it passes
the guard rails of `screen_rewrite` (one line, long enough, keeps what the instruction asked for, does not
name what the instruction removes). Anything else, a generation error included, keeps the draft. Negative
prompts and strength hints always stay the composer's. Called from the GPU worker thread only.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from engine.prompting.composer import MAX_PROMPT_CHARS, ComposedPrompt
from engine.vision.catalog import pretrained

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 60
MIN_WORDS = 2
# The user's texts are bounded before they go into the model's prompt (the service caps instructions too).
_MAX_INPUT_CHARS = 500

_SYSTEM = (
    "You write prompts for an image generator. Merge the picture's description and the requested change "
    "into one prompt: comma-separated visual phrases, under 60 words, no negations. "
    "Answer with the prompt only, on one line."
)
_EXAMPLE_USER = "Picture: a dog on a beach\nChange: make it night\nDraft prompt: dog on a beach, at night, moonlight"
_EXAMPLE_ANSWER = "a dog on a sandy beach at night, moonlight, dark blue sky, calm sea"

# Words that carry no request of their own: articles, prepositions, pronouns, the verbs of an instruction.
_STOPWORD_TEXT = (
    "a an the and or but of in on at to into onto with without from by for as near under over behind "
    "it its it's this that these those he she him her his they them their you your me my we our i "
    "make made turn put place set add give change replace swap move take bring show let keep use "
    "please can could would will want like look looks more less very much some any all just also then now "
    "not no don't dont do does remove erase delete get rid out away instead style image picture photo scene "
    "is are be been being was were has have had there here"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'-]*")
_LABEL_RE = re.compile(
    r"^(?:[*#>\-\s]*)(?:(?:here\s+is|here's)\s+)?(?:(?:the|a|an|my)\s+)?"
    r"(?:(?:rewritten|new|final|output|image|improved|revised|merged|updated)\s+)?"
    r"(?:prompt|answer|output|result)\s*\**\s*[:\-\u2013\u2014]\s*",
    re.IGNORECASE,
)
_CHATTER_RE = re.compile(r"^(?:sure|okay|ok|certainly|of course|absolutely)\b[!,.]*\s*", re.IGNORECASE)
_QUOTES = "\"'`*\u201c\u201d\u2018\u2019\u00ab\u00bb "
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class RewriterUnavailable(RuntimeError):
    """The language model's weights cannot be found locally; the message says how to provide them."""


@dataclass(frozen=True)
class Screened:
    """The guard rails' verdict on one raw model output: the cleaned prompt, or None and why not."""

    prompt: str | None
    reason: str


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _words(text) if len(w) >= 3 and w not in _STOPWORDS}


def clean_output(raw: str) -> str:
    """A raw model output as one prompt line: preamble and labels, quotes and extra spaces gone, lower-case,
    at most MAX_PROMPT_CHARS characters (cut at a comma or a space)."""
    text = _CONTROL_RE.sub(" ", raw.replace("\r", "\n"))
    lines = [line.strip() for line in text.split("\n") if line.strip(_QUOTES + "\t")]
    # "Sure! Here is the prompt:" on a line of its own announces the answer on the next line.
    while len(lines) > 1 and lines[0].rstrip(_QUOTES).endswith(":") and len(lines[0].split()) <= 8:
        lines.pop(0)
    line = lines[0] if lines else ""
    previous = None
    while previous != line:  # labels and quotes can nest: **Prompt:** "..."
        previous = line
        line = _LABEL_RE.sub("", _CHATTER_RE.sub("", line)).strip(_QUOTES + "\t")
    line = " ".join(line.lower().split())
    line = re.sub(r"\s+,", ",", line)
    line = re.sub(r",(?:\s*,)+", ",", line)
    line = re.sub(r",(?=\S)", ", ", line).strip(" ,.;:!?")
    if len(line) > MAX_PROMPT_CHARS:
        cut = line[:MAX_PROMPT_CHARS]
        line = (cut[: max(cut.rfind(","), cut.rfind(" "))] if " " in cut else cut).strip(" ,.;:!?")
    return line


def screen_rewrite(raw: str, *, description: str, instruction: str, composed: ComposedPrompt) -> Screened:
    """Clean a raw model output and decide whether it may replace the composer's prompt."""
    prompt = clean_output(raw)
    if not prompt:
        return Screened(None, "empty output")
    words = [w for w in _words(prompt) if any(c.isalpha() for c in w)]
    if len(words) < MIN_WORDS:
        return Screened(None, "too short")
    if len(words) >= 8 and len(set(words)) < len(words) * 0.35:
        return Screened(None, "repeats itself")
    said = {_stem(w) for w in words}
    removed = _content(composed.negative_prompt) - _content(composed.prompt)
    named = sorted(removed & said)
    if named:
        # An image model draws what a prompt names, even after "no": what was removed must stay unnamed.
        return Screened(None, f"names what the instruction removes ({', '.join(named)})")
    # What the instruction asks for: its own words, and the words the composer brought in for it
    # ("watercolour" → "watercolor painting"). The rewrite must keep at least one of them.
    wanted = (_content(instruction) | (_content(composed.prompt) - _content(description))) - removed
    if wanted and not wanted & said:
        return Screened(None, "drops the instruction's key words")
    return Screened(prompt, "accepted")


def _messages(description: str, instruction: str, draft: str) -> list[dict[str, str]]:
    user = (
        f"Picture: {description[:_MAX_INPUT_CHARS]}\nChange: {instruction[:_MAX_INPUT_CHARS]}\n"
        f"Draft prompt: {draft[:_MAX_INPUT_CHARS]}"
    )
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": _EXAMPLE_USER},
        {"role": "assistant", "content": _EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]


def _plain_prompt(messages: list[dict[str, str]]) -> str:
    parts = [messages[0]["content"], ""]
    for message in messages[1:]:
        parts.append(message["content"] if message["role"] == "user" else f"Prompt: {message['content']}\n")
    return "\n".join(parts) + "\nPrompt:"


class LocalLMRewriter:
    """A causal language model (e.g. Qwen2.5-0.5B-Instruct) that rewrites the composer's prompt; a `Rewriter`."""

    def __init__(
        self, model: Any, tokenizer: Any, *, device: str | torch.device = "cpu", max_new_tokens: int = MAX_NEW_TOKENS
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        offline: bool = True,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
    ) -> LocalLMRewriter:
        """Load from a local folder or a hub id (from the cache when `offline`); safetensors only."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype is None:
            # Half precision on a GPU; float32 on the CPU, where bfloat16 matmuls are slow on many machines.
            dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
        tokenizer, model = pretrained(
            source,
            AutoTokenizer,
            AutoModelForCausalLM,
            offline=offline,
            unavailable=RewriterUnavailable,
            what="prompt rewriter language model",
            files="tokenizer files",
            dtype=dtype,
        )
        return cls(model.to(device), tokenizer, device=device)

    def prompt_text(self, description: str, instruction: str, draft: str) -> tuple[str, bool]:
        """The text the model continues, and whether it came from the tokenizer's chat template."""
        messages = _messages(description, instruction, draft)
        if getattr(self.tokenizer, "chat_template", None):
            try:
                text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except Exception:  # some templates refuse a system turn: fold it into the first user turn
                merged = [{"role": "user", "content": f"{_SYSTEM}\n\n{_EXAMPLE_USER}"}, *messages[2:]]
                text = self.tokenizer.apply_chat_template(merged, add_generation_prompt=True, tokenize=False)
            return str(text), True
        return _plain_prompt(messages), False

    @torch.inference_mode()
    def generate(self, description: str, instruction: str, draft: str) -> str:
        """The model's raw continuation (greedy, at most `max_new_tokens` tokens), special tokens removed."""
        from transformers import GenerationConfig

        text, templated = self.prompt_text(description, instruction, draft)
        # A chat template writes its own special tokens; a plain prompt gets the tokenizer's usual ones.
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=not templated)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if isinstance(eos, list) else eos
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad
        )
        output = self.model.generate(**inputs, generation_config=config)
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new_tokens, skip_special_tokens=True))

    def rewrite(self, description: str, instruction: str, composed: ComposedPrompt) -> ComposedPrompt:
        """The model's prompt when it passes the guard rails, else `composed` unchanged; never raises."""
        if not instruction.strip() or not composed.prompt:
            return composed
        try:
            raw = self.generate(description, instruction, composed.prompt)
        except Exception:  # a rewriter is an extra: whatever goes wrong, the composer's prompt still works
            log.warning("prompt rewriter failed; keeping the composer's prompt", exc_info=True)
            return composed
        verdict = screen_rewrite(raw, description=description, instruction=instruction, composed=composed)
        if verdict.prompt is None:
            log.info(
                "prompt rewriter output refused (%s): %r; keeping the composer's prompt", verdict.reason, raw[:200]
            )
            return composed
        log.info("prompt rewriter: %r -> %r", composed.prompt, verdict.prompt)
        return replace(composed, prompt=verdict.prompt, source="rewriter")


def tiny_rewriter(seed: int = 0) -> LocalLMRewriter:
    """A Llama-shaped LM built from config with random weights and a byte-level tokenizer: offline, its output
    is noise (which the guard rails nearly always refuse)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    # One token per byte and no merges: every text encodes, and the vocabulary is 256 + 3 entries.
    vocab = {char: i for i, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **specials)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,  # byte tokens: the prompt with its example is about 700 of them
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.5,  # wide enough that the output varies with the input instead of one repeated token
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return LocalLMRewriter(model, tokenizer)
