"""Builds the services once, for the bot and the CLI alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.services.guild_settings import GuildSettingsService
from bot.services.jobs import JobService
from bot.services.models import ModelService
from bot.services.runtime import EngineRuntime
from bot.settings import Settings
from storage import Database, open_database


@dataclass
class Services:
    settings: Settings
    db: Database
    runtime: EngineRuntime
    models: ModelService
    jobs: JobService
    guild_settings: GuildSettingsService


@asynccontextmanager
async def open_services(settings: Settings, runtime: EngineRuntime | None = None) -> AsyncIterator[Services]:
    """Open the database and the engine runtime; the caller sets a delivery port, then `jobs.start()`."""
    if settings.hf_offline:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    db = await open_database(settings.db_path)
    runtime = runtime or EngineRuntime(
        settings.device,
        cache_dir=settings.data_dir / "models",
        captioner=settings.captioner,
        segmenter=settings.segmenter,
        rewriter=settings.rewriter,
        offline=settings.hf_offline,
    )
    models = ModelService(db, settings.default_model)
    jobs = JobService(
        db,
        models,
        runtime,
        settings.images_dir,
        uploads_dir=settings.uploads_dir,
        max_upload_bytes=settings.max_attachment_bytes,
    )
    services = Services(settings, db, runtime, models, jobs, GuildSettingsService(db))
    try:
        yield services
    finally:
        await jobs.stop()
        await runtime.shutdown()
        await db.close()
