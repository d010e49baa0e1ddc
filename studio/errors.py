"""The one error type the Discord layer and the CLI show to users."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable


@runtime_checkable
class UserFacing(Protocol):
    """Any error whose `user_message` is safe to show as is: short, one line, says what to do.

    StudioError and engine.errors.EngineError are; the error funnel shows any other error that is.
    """

    @property
    def user_message(self) -> str: ...


class StudioError(Exception):
    """A failure with a short, user-safe message that says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def user_message(self) -> str:
        return self.message


class NotFound(StudioError):
    """The thing a button or command points at is gone."""


class Refused(StudioError):
    """A policy (quota, role, limit, blocked word) refuses the request."""


# The Discord commands the services name in their messages, and what does the same at the command line.
# Longest first, so "/train list" wins over "/train".
_CLI_EQUIVALENTS: tuple[tuple[str, str], ...] = (
    ("/train start", "studio train"),
    ("/train status", "studio train list"),
    ("/train list", "studio train list"),
    ("/train cancel", "Ctrl+C in the terminal that runs it"),
    ("/trainset create", "studio trainset add"),
    ("/trainset use", "studio trainset add"),
    ("/trainset check", "studio trainset show"),
    ("/trainset list", "studio trainset list"),
    ("/trainset", "studio trainset"),
    ("/autopost list", "studio autopost list"),
    ("/models", "studio models list"),
    ("/describe", "studio describe"),
    ("/generate", "studio generate"),
    ("/train", "studio train"),
)
_SLASH_COMMAND = re.compile(
    r"(?<![\w/.])(" + "|".join(re.escape(slash) for slash, _ in _CLI_EQUIVALENTS) + r")(?![\w/-])"
)
_ADMINS_LOGGED = "the error was logged for the admins"


def cli_wording(message: str) -> str:
    """A user message as the command line shows it: Discord commands become the `studio` commands doing the same.

    The services word their messages for Discord, the front door most users meet; the CLI rewrites them at its
    boundary instead of every service knowing who asked.
    """
    cli = dict(_CLI_EQUIVALENTS)
    text = _SLASH_COMMAND.sub(lambda m: cli[m.group(1)], message)
    # At the command line the admin is the user, and the log is one option away.
    return text.replace(_ADMINS_LOGGED, "run again with --verbose for the details")
