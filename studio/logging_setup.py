"""Logging, set up once by each entry point (`studio`, `python -m bot`): levels, secrets redacted, log file."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

NOISY_LOGGERS = (
    "discord.gateway",
    "discord.http",
    "httpx",
    "urllib3",
    "diffusers",
    "transformers",
    "PIL",
    "apscheduler",
)

# A Discord bot token: three dot-separated base64url parts, the first of about 24 characters.
_TOKEN_RE = re.compile(r"[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,40}")
# An interaction token in a webhook or interaction URL (discord.py logs request URLs at DEBUG):
# whoever holds it can post as the bot for 15 minutes.
_URL_TOKEN_RE = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?\s]+")


class RedactSecrets(logging.Filter):
    """Masks anything shaped like a Discord token, interaction tokens in URLs and any configured secret."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_RE.sub("[redacted]", message)
        redacted = _URL_TOKEN_RE.sub(r"\1[redacted]", redacted)
        for secret in self._secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(
    level: str = "INFO", secrets: tuple[str, ...] = (), *, stderr: bool = True, log_file: Path | None = None
) -> None:
    """Configure the root logger once; quiet the chatty libraries.

    `stderr` shows the records in the terminal (the bot, and `studio --verbose`); `log_file` keeps them, with
    their tracebacks, in a small rotating file (the CLI's commands, whose terminal shows one line per error).
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_studio", False):
            root.removeHandler(old)
            old.close()
    handlers: list[logging.Handler] = []
    if stderr:
        handlers.append(logging.StreamHandler())
    if log_file is not None:
        # delay: the file is made at the first record, so a command that logs nothing leaves nothing behind.
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=2, encoding="utf-8", delay=True
            )
        )
    if not handlers:
        # Without any handler logging falls back to printing warnings on stderr.
        handlers.append(logging.NullHandler())
    for handler in handlers:
        handler._studio = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        handler.addFilter(RedactSecrets(secrets))
        root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # transformers warns about optional backends (torchvision) it falls back from; only errors matter here.
    logging.getLogger("transformers").setLevel(max(logging.ERROR, logging.getLevelName(level)))
    # The hub client retries unreachable hosts with a warning each time; the final error says it all.
    logging.getLogger("huggingface_hub").setLevel(max(logging.ERROR, logging.getLevelName(level)))
    # With torchao installed, diffusers warns that it cannot read torchao-serialized checkpoints: the studio never
    # loads one (it quantizes after loading), so the line only alarms; and torchao itself, imported by diffusers,
    # warns about its CUDA kernels on a machine without them, and torch about how torchao registers its enums.
    for name in ("diffusers.quantizers.torchao.torchao_quantizer", "torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLevelName(level)))
