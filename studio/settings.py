"""Typed settings read from the environment and `.env`, once, in the entry point.

Settings come in sections (`settings.engine`, `settings.backend`; training and schedules add theirs),
each field read from one flat variable named in `ENV_NAMES` (STUDIO_DEVICE → `engine.device`): the
names users put in `.env` stay short and stable however the code groups them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line that names the variable."""


class EngineSettings(BaseModel):
    """The engine: where it runs and which vision models it uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Literal["auto", "cuda", "cpu"] = "auto"
    # Speed: off | auto (fused attention, channels-last on a GPU) | compile (+ torch.compile) | max (+ fp8 FLUX).
    optimize: Literal["off", "auto", "compile", "max"] = "auto"
    hf_offline: bool = False  # never reach the model hub
    # Vision models: a catalog id (engine/vision/catalog.py) or a local model folder.
    captioner: str = Field(default="blip-large", min_length=1)
    segmenter: str = Field(default="clipseg", min_length=1)
    # Optional language model that rewrites /vary and /edit prompts: `none`, a catalog id, or a local folder.
    rewriter: str = Field(default="none", min_length=1)
    # Image embedder of the training-set outlier check: a catalog id or a local CLIP folder.
    embedder: str = Field(default="clip-vit-base-patch32", min_length=1)


class BackendSettings(BaseModel):
    """Where jobs run: `process` (the engine in a process of its own), `thread` (in the bot's process) or `ray`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # process: one engine process beside the bot (its crash or a training never stalls the gateway);
    # thread: one GPU thread in the bot's process (tests, debugging); ray: one Ray actor per GPU, here or a cluster.
    kind: Literal["process", "thread", "ray"] = "process"
    ray_address: str = ""  # a running cluster's address (`ray start --head` prints it); empty: start one here
    ray_workers: int = Field(default=0, ge=0, le=64)  # 0: one per GPU Ray sees (one on a machine without GPUs)
    # How files reach the workers: a data folder every node sees at the same path, or with each order.
    ray_files: Literal["shared", "object-store"] = "shared"

    @field_validator("kind", mode="before")
    @classmethod
    def _older_name(cls, value: Any) -> Any:
        # `local` was the default before the engine had a process of its own; it still means "on this machine".
        return "process" if isinstance(value, str) and value.strip().lower() == "local" else value


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DISCORD_OAUTH_BASE = "https://discord.com"


def refuse_remote_host(host: str, allow_remote: bool) -> None:
    """A SettingsError unless `host` is a loopback address or remote access was asked for by name."""
    if host.strip("[]") not in LOOPBACK_HOSTS and not allow_remote:
        raise SettingsError(
            f"STUDIO_WEB_HOST: {host} is reachable from other machines, where the web studio's one token is all that "
            "guards it; use 127.0.0.1, set STUDIO_WEB_ALLOW_REMOTE=1 if you mean it, or (with `studio run`) turn on "
            "Sign in with Discord: STUDIO_WEB_PUBLIC_URL, DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET"
        )


def _checked_url(name: str, url: str) -> str:
    """`url` without a trailing slash, if it is an http(s) address of a host with no query; https unless loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"{name}: {url!r} is not an address like https://studio.example.org")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise SettingsError(f"{name}: {url!r} must use https (plain http is only for 127.0.0.1 and localhost)")
    return url.rstrip("/")


class WebSettings(BaseModel):
    """The web studio: served beside the bot by `studio run` when `port` is set, and by `studio web`.

    Sign in with Discord (`discord_login`) is on when the public URL, the client id and the client secret are all
    set; it needs the bot (`studio run`), whose view of each member decides what they may do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int | None = Field(default=None, ge=0, le=65535)  # None: `studio run` serves no web
    host: str = Field(default="127.0.0.1", min_length=1)
    allow_remote: bool = False  # bind a non-loopback host (refused without it, unless Sign in with Discord is on)
    # The address people reach it by through a proxy (https://studio.example.org): its host joins the allow-list.
    public_url: str = ""
    discord_client_id: str = ""  # the Discord application's id (the developer portal's "Application ID")
    discord_client_secret: SecretStr | None = None  # the application's OAuth2 client secret: never logged or shown
    discord_oauth_base: str = DISCORD_OAUTH_BASE  # where the provider is (tests point it at a fake one)

    @field_validator("port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_client_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url", "discord_client_id", "discord_oauth_base", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return str(value).strip() if isinstance(value, str | int) else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _checked_url("STUDIO_WEB_PUBLIC_URL", value) if value else value

    @field_validator("discord_oauth_base")
    @classmethod
    def _oauth_base(cls, value: str) -> str:
        return _checked_url("STUDIO_DISCORD_OAUTH_BASE", value)

    @property
    def discord_login(self) -> bool:
        """Whether Sign in with Discord is configured (the settings check it is complete)."""
        return bool(self.discord_client_id and self.discord_client_secret is not None)

    @property
    def https(self) -> bool:
        """Whether people reach it by https: the session cookie is then sent over https only."""
        return self.public_url.startswith("https://")

    @model_validator(mode="after")
    def _local_unless_asked(self) -> WebSettings:
        if bool(self.discord_client_id) != (self.discord_client_secret is not None):
            missing = "DISCORD_CLIENT_SECRET" if self.discord_client_id else "DISCORD_CLIENT_ID"
            raise SettingsError(
                f"{missing}: Sign in with Discord needs both DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET"
            )
        if self.discord_client_id and not self.discord_client_id.isdigit():
            raise SettingsError(
                f"DISCORD_CLIENT_ID: {self.discord_client_id!r} is not an id: copy the Application ID from the "
                "Discord developer portal"
            )
        if self.discord_login and not self.public_url:
            raise SettingsError(
                "STUDIO_WEB_PUBLIC_URL: Sign in with Discord needs the address people open (https://…); its "
                "/auth/callback is the redirect URI to register"
            )
        refuse_remote_host(self.host, self.allow_remote or self.discord_login)
        return self


# Every variable the studio reads, and the field it fills (`.env.example` lists them all).
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "DISCORD_TOKEN": ("discord_token",),
    "STUDIO_DATA_DIR": ("data_dir",),
    "STUDIO_DEV_GUILD_ID": ("dev_guild_id",),
    "STUDIO_DEFAULT_MODEL": ("default_model",),
    "STUDIO_LOG_LEVEL": ("log_level",),
    "STUDIO_MAX_ATTACHMENT_MB": ("max_attachment_mb",),
    "STUDIO_DEVICE": ("engine", "device"),
    "STUDIO_OPTIMIZE": ("engine", "optimize"),
    "STUDIO_HF_OFFLINE": ("engine", "hf_offline"),
    "STUDIO_CAPTIONER": ("engine", "captioner"),
    "STUDIO_SEGMENTER": ("engine", "segmenter"),
    "STUDIO_REWRITER": ("engine", "rewriter"),
    "STUDIO_EMBEDDER": ("engine", "embedder"),
    "STUDIO_BACKEND": ("backend", "kind"),
    "STUDIO_RAY_ADDRESS": ("backend", "ray_address"),
    "STUDIO_RAY_WORKERS": ("backend", "ray_workers"),
    "STUDIO_RAY_FILES": ("backend", "ray_files"),
    "STUDIO_WEB_PORT": ("web", "port"),
    "STUDIO_WEB_HOST": ("web", "host"),
    "STUDIO_WEB_ALLOW_REMOTE": ("web", "allow_remote"),
    "STUDIO_WEB_PUBLIC_URL": ("web", "public_url"),
    "DISCORD_CLIENT_ID": ("web", "discord_client_id"),
    "DISCORD_CLIENT_SECRET": ("web", "discord_client_secret"),
    "STUDIO_DISCORD_OAUTH_BASE": ("web", "discord_oauth_base"),
}


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"STUDIO_DEVICE": "cpu"} → {"engine": {"device": "cpu"}}; names not in ENV_NAMES are ignored."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        path = ENV_NAMES.get(name.upper())
        if path is None or value is None:
            continue
        target = nested
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return nested


class _FlatVariables(PydanticBaseSettingsSource):
    """Reads ENV_NAMES from the `.env` file and the environment (the environment wins)."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path | str | None) -> None:
        super().__init__(settings_cls)
        self._env_file = env_file

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if self._env_file is not None and Path(self._env_file).is_file():
            values.update(dotenv_values(self._env_file, encoding="utf-8"))
        values.update(os.environ)
        return nest(values)


class Settings(BaseSettings):
    """Every variable is listed, with a comment, in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    discord_token: SecretStr | None = None
    data_dir: Path = Path("data")
    dev_guild_id: int | None = None
    default_model: str = "tiny-world"  # the built-in model that draws recognisable pictures offline
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_attachment_mb: int = Field(default=20, ge=1, le=100)
    engine: EngineSettings = EngineSettings()
    backend: BackendSettings = BackendSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env_file = getattr(dotenv_settings, "env_file", None)
        return (init_settings, _FlatVariables(settings_cls, env_file if isinstance(env_file, str | Path) else None))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "studio.db"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def thumbs_dir(self) -> Path:
        """Thumbnails of images, made when first asked for (the web's gallery and grids)."""
        return self.data_dir / "thumbs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def max_attachment_bytes(self) -> int:
        return self.max_attachment_mb * 1024 * 1024

    @property
    def loras_dir(self) -> Path:
        return self.data_dir / "loras"

    @property
    def trainsets_dir(self) -> Path:
        return self.data_dir / "trainsets"

    @property
    def training_dir(self) -> Path:
        """One folder per training run: its copied images, checkpoints, samples and exports."""
        return self.data_dir / "training"

    def require_token(self) -> str:
        """The bot token, or a SettingsError that says how to provide it."""
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise SettingsError("DISCORD_TOKEN is not set: put your bot token in .env (see .env.example)")
        return self.discord_token.get_secret_value().strip()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for the log filter to mask (the bot token, the OAuth2 client secret)."""
        found = (self.discord_token, self.web.discord_client_secret)
        return tuple(value.get_secret_value() for value in found if value is not None and value.get_secret_value())


def prepare_data_dir(settings: Settings) -> Path:
    """Create the data folder if needed and check that files can be written in it; a one-line SettingsError if not.

    Checked before any command touches it, so a wrong --data-dir is one line rather than a database error.
    """
    folder = settings.data_dir
    fix = "pass --data-dir (or set STUDIO_DATA_DIR to) a folder you can write to"
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"the data folder {folder} is a file, not a folder: {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"the data folder {folder} cannot be used ({exc.strerror or exc}): {fix}") from None
    return folder


def _env_name(loc: tuple[Any, ...]) -> str:
    path = tuple(str(part) for part in loc)
    for name, fields in ENV_NAMES.items():
        if path[: len(fields)] == fields:
            return name
    return ".".join(path) or "?"


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read settings once; `overrides` use the variable names (STUDIO_DATA_DIR=...). Errors are one line."""
    try:
        return Settings(_env_file=env_file, **nest(dict(overrides)))  # type: ignore[call-arg]
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SettingsError(f"{_env_name(err['loc'])}: {err['msg']} (got {err.get('input')!r})") from None
