"""`python -m bot`: run the Discord bot, as `studio run` does (the adapter does not import the CLI)."""

from __future__ import annotations

import sys


def _run() -> None:
    import asyncio
    import os
    from pathlib import Path

    from bot.runner import run_bot
    from studio.errors import StudioError
    from studio.logging_setup import setup_logging
    from studio.settings import SettingsError, load_settings, prepare_data_dir

    try:
        env_file = Path(".env")
        settings = load_settings(env_file=env_file if env_file.exists() else None)
        prepare_data_dir(settings)
        if settings.engine.hf_offline:
            # Read by huggingface_hub when it is imported; set here, once, before any engine code runs.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            setup_logging(settings.log_level, secrets=settings.secrets)
        asyncio.run(run_bot(settings))
    except (StudioError, SettingsError) as exc:
        message = exc.user_message if isinstance(exc, StudioError) else str(exc)
        print(f"error: {' '.join(str(message).split())}", file=sys.stderr)  # noqa: T201 - one line, as `studio run`
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        sys.exit(130)


if __name__ == "__main__":
    _run()
