"""Typed settings read from the environment and `.env`, once, in the entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line that names the variable."""


class Settings(BaseSettings):
    """Every field is listed, with a comment, in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = Field(default=None, validation_alias="DISCORD_TOKEN")
    data_dir: Path = Field(default=Path("data"), validation_alias="STUDIO_DATA_DIR")
    dev_guild_id: int | None = Field(default=None, validation_alias="STUDIO_DEV_GUILD_ID")
    default_model: str = Field(default="tiny-sd", validation_alias="STUDIO_DEFAULT_MODEL")
    device: Literal["auto", "cuda", "cpu"] = Field(default="auto", validation_alias="STUDIO_DEVICE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", validation_alias="STUDIO_LOG_LEVEL")
    hf_offline: bool = Field(default=False, validation_alias="STUDIO_HF_OFFLINE")
    max_attachment_mb: int = Field(default=20, ge=1, le=100, validation_alias="STUDIO_MAX_ATTACHMENT_MB")
    # Vision models: a catalog id (engine/vision_catalog.py) or a local model folder.
    captioner: str = Field(default="blip-large", min_length=1, validation_alias="STUDIO_CAPTIONER")
    segmenter: str = Field(default="clipseg", min_length=1, validation_alias="STUDIO_SEGMENTER")
    # Optional language model that rewrites /vary and /edit prompts: `none`, a catalog id, or a local folder.
    rewriter: str = Field(default="none", min_length=1, validation_alias="STUDIO_REWRITER")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "studio.db"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def max_attachment_bytes(self) -> int:
        return self.max_attachment_mb * 1024 * 1024

    @property
    def loras_dir(self) -> Path:
        return self.data_dir / "loras"

    def require_token(self) -> str:
        """The bot token, or a SettingsError that says how to provide it."""
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise SettingsError("DISCORD_TOKEN is not set: put your bot token in .env (see .env.example)")
        return self.discord_token.get_secret_value().strip()


def _field_env_name(loc: tuple) -> str:
    name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    return name.upper()


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read settings once; turn pydantic's report into one line naming the variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SettingsError(f"{_field_env_name(err['loc'])}: {err['msg']} (got {err.get('input')!r})") from None
