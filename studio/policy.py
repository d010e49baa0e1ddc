"""Guild policy checks: each refusal says why and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from studio.contract import Caller
from studio.errors import Refused

# Words that mark a prompt as adult content; guilds choose to block such prompts or spoiler the results.
NSFW_WORDS = frozenset({"nsfw", "nude", "naked", "nudity", "porn", "explicit", "topless", "sexual", "hentai", "gore"})


class PolicyLimits(Protocol):
    """The fields of storage's GuildSettings that policy reads (read-only: the settings are frozen)."""

    @property
    def allowed_role_ids(self) -> tuple[int, ...]: ...
    @property
    def max_count(self) -> int: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def max_concurrent_per_user(self) -> int: ...
    @property
    def daily_quota(self) -> int: ...
    @property
    def blocked_words(self) -> tuple[str, ...]: ...
    @property
    def nsfw_policy(self) -> str: ...
    @property
    def serve_dms(self) -> bool: ...


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def find_blocked(text: str, blocked: Iterable[str]) -> str | None:
    """The first blocked word or phrase found in `text` (whole words, case-insensitive)."""
    lowered = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    for word in blocked:
        needle = " ".join(re.findall(r"[a-z0-9]+", word.lower()))
        if needle and f" {needle} " in lowered:
            return word
    return None


def is_nsfw(prompt: str) -> bool:
    return bool(_words(prompt) & NSFW_WORDS)


def check_access(caller: Caller, limits: PolicyLimits) -> None:
    """Role allowlist and DMs. The machine's owner is held to neither; nor is a schedule (charged to its server),
    which a manager set up."""
    if caller.bypasses_server_policy or caller.account is not None:
        return
    if caller.guild_id is None:
        if not limits.serve_dms:
            raise Refused("This bot does not make images in DMs. Use it in a server channel.")
        return
    if (
        limits.allowed_role_ids
        and not (set(caller.role_ids) & set(limits.allowed_role_ids))
        and not caller.may_manage_server
    ):
        roles = ", ".join(f"<@&{r}>" for r in limits.allowed_role_ids)
        raise Refused(f"Only members with one of these roles can make images here: {roles}.")


def check_request(
    caller: Caller,
    limits: PolicyLimits,
    *,
    prompt: str,
    negative: str,
    count: int,
    steps: int,
    width: int,
    height: int,
) -> bool:
    """Checks a resolved request against the guild's limits; returns True when results must be spoilered."""
    check_access(caller, limits)
    for text in (prompt, negative):
        word = find_blocked(text, limits.blocked_words)
        if word is not None:
            raise Refused(f"Your prompt contains a word this server blocks ({word!r}). Rephrase it and try again.")
    if count > limits.max_count:
        raise Refused(f"This server allows at most {limits.max_count} images per job; you asked for {count}.")
    if steps > limits.max_steps:
        raise Refused(f"This server allows at most {limits.max_steps} steps; this job needs {steps}.")
    if max(width, height) > limits.max_size:
        raise Refused(
            f"This server allows images up to {limits.max_size}px on the longest side; "
            f"{width}x{height} is larger. Pick another aspect or a smaller model."
        )
    if is_nsfw(prompt):
        if limits.nsfw_policy == "block":
            raise Refused("This server does not allow adult content. Rephrase your prompt.")
        return True
    return False


def check_load(limits: PolicyLimits, *, active_jobs: int, images_today: int, pending_images: int, count: int) -> None:
    """Per-user concurrency cap and daily quota."""
    if active_jobs >= limits.max_concurrent_per_user:
        raise Refused(
            f"You already have {active_jobs} job(s) waiting or running; the limit here is "
            f"{limits.max_concurrent_per_user}. Wait for one to finish or cancel one with /queue."
        )
    used = images_today + pending_images
    if limits.daily_quota and used + count > limits.daily_quota:  # 0 means no daily limit
        left = max(0, limits.daily_quota - used)
        raise Refused(
            f"Daily quota reached: {used} of {limits.daily_quota} images used today, {left} left. "
            "It resets at 00:00 UTC."
        )
