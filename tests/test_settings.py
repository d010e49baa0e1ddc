"""Settings: defaults, overrides, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.logging_setup import RedactSecrets, setup_logging
from studio.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.settings import ENV_NAMES

    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_env_file() -> None:
    settings = load_settings(env_file=None)
    assert settings.data_dir == Path("data")
    assert settings.default_model == "tiny-world"  # recognisable pictures offline
    assert settings.engine.device == "auto"
    assert settings.dev_guild_id is None
    assert settings.db_path == Path("data/studio.db")


def test_env_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("STUDIO_DATA_DIR=/srv/studio\nSTUDIO_DEV_GUILD_ID=123\nSTUDIO_DEVICE=cpu\n", encoding="utf-8")
    monkeypatch.setenv("STUDIO_DEVICE", "cuda")  # the environment wins over the file
    settings = load_settings(env_file=env)
    assert settings.data_dir == Path("/srv/studio")
    assert settings.dev_guild_id == 123
    assert settings.engine.device == "cuda"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STUDIO_DEV_GUILD_ID", "not-a-number"),
        ("STUDIO_DEVICE", "tpu"),
        ("STUDIO_LOG_LEVEL", "LOUD"),
        ("STUDIO_OPTIMIZE", "fast"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None)
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "\n" not in message


def test_missing_token_is_one_clear_line() -> None:
    settings = load_settings(env_file=None)
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is not set"):
        settings.require_token()


def test_token_never_in_repr_or_logs(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    settings = load_settings(env_file=None)
    assert token not in repr(settings)
    assert settings.require_token() == token
    record_filter = RedactSecrets((token,))
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "connecting with %s", (token,), None)
    record_filter.filter(record)
    assert token not in record.getMessage()
    assert "[redacted]" in record.getMessage()


def test_token_shape_redacted_even_when_unknown() -> None:
    import logging

    leaked = "OTk5OTk5OTk5OTk5OTk5OTk5.Xy12Ab.zyxwvutsrqponmlkjihgfedcba987654321"
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "oops %s", (leaked,), None)
    RedactSecrets().filter(record)
    assert leaked not in record.getMessage()


def test_setup_logging_is_idempotent() -> None:
    import logging

    setup_logging("DEBUG")
    setup_logging("INFO")
    studio_handlers = [h for h in logging.getLogger().handlers if getattr(h, "_studio", False)]
    assert len(studio_handlers) == 1
    assert logging.getLogger("discord.http").level >= logging.WARNING
    # The optional quantizer's import-time notices (CUDA kernels absent, checkpoints it cannot read) stay out.
    assert logging.getLogger("torchao").level >= logging.ERROR


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/v10/webhooks/1234567890/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpTZWNyZXQ_x-y/messages/@original",
        "https://discord.com/api/v10/interactions/1234567890/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpTZWNyZXQ_x-y/callback",
    ],
)
def test_interaction_tokens_in_discord_urls_are_redacted(url: str) -> None:
    import logging

    # discord.py's webhook adapter logs every request URL at DEBUG; the token in it can post as the bot.
    fmt = "Webhook ID %s with %s %s has returned status code %s"
    record = logging.LogRecord("discord.webhook.async_", logging.DEBUG, __file__, 1, fmt, (1, "PATCH", url, 200), None)
    RedactSecrets().filter(record)
    message = record.getMessage()
    assert "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpTZWNyZXQ_x-y" not in message
    assert "/1234567890/[redacted]" in message


async def test_interaction_tokens_stay_out_of_the_reprs_of_callers_routes_and_jobs(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from storage import open_database
    from studio.contract import Caller
    from studio.jobs.routes import route_of

    secret = "aW50ZXJhY3Rpb246c2VjcmV0"
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    caller = Caller(user_id=1, guild_id=2, interaction_token=secret, token_expires_at=expires)
    db = await open_database(tmp_path / "studio.db")
    try:
        job = await db.jobs.create("generate", {"prompt": "a cat"}, 1, interaction_token=secret)
    finally:
        await db.close()
    for value in (caller, job, route_of(job)):
        assert value.interaction_token == secret
        assert secret not in repr(value)  # a log line or a traceback that shows the object keeps it out


def test_every_variable_is_documented_in_env_example_and_the_readme() -> None:
    from studio.settings import ENV_NAMES

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    for name in ENV_NAMES:
        assert f"\n{name}=" in example, name
        assert f"`{name}`" in readme, name


def test_sections_read_the_flat_variable_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("STUDIO_CAPTIONER=tiny-blip\nSTUDIO_HF_OFFLINE=true\n", encoding="utf-8")
    monkeypatch.setenv("STUDIO_SEGMENTER", "tiny-clipseg")
    settings = load_settings(env_file=env, STUDIO_REWRITER="tiny-lm")
    assert (settings.engine.captioner, settings.engine.segmenter, settings.engine.rewriter) == (
        "tiny-blip",
        "tiny-clipseg",
        "tiny-lm",
    )
    assert settings.engine.hf_offline is True
    assert settings.backend.kind == "process"
    monkeypatch.setenv("STUDIO_BACKEND", "ray")
    monkeypatch.setenv("STUDIO_RAY_WORKERS", "2")
    ray = load_settings(env_file=None).backend
    assert (ray.kind, ray.ray_workers, ray.ray_address) == ("ray", 2, "")
    monkeypatch.setenv("STUDIO_BACKEND", "slurm")
    with pytest.raises(SettingsError, match=r"^STUDIO_BACKEND: "):
        load_settings(env_file=None)


def test_the_older_backend_name_local_means_the_engine_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # `.env` files copied from an older `.env.example` say STUDIO_BACKEND=local: they keep working.
    monkeypatch.setenv("STUDIO_BACKEND", "local")
    assert load_settings(env_file=None).backend.kind == "process"
    monkeypatch.setenv("STUDIO_BACKEND", "thread")
    assert load_settings(env_file=None).backend.kind == "thread"


def test_the_optimize_level_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.container import engine_config

    assert engine_config(load_settings(env_file=None)).optimize == "auto"
    monkeypatch.setenv("STUDIO_OPTIMIZE", "max")
    assert engine_config(load_settings(env_file=None)).optimize == "max"
