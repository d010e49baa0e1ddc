"""`python -m bot`: run the bot through the studio CLI."""

from __future__ import annotations


def _run() -> None:
    from bot.cli import main  # imported lazily: the CLI pulls in every service

    main(["run"])


if __name__ == "__main__":
    _run()
