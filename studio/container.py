"""Builds the services once, for the bot and the CLI alike: the queue, every kind of job, the APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from engine import EngineConfig, EngineHost, ExecutionBackend, OrderRunner, ProcessBackend, ThreadBackend
from storage import Database, open_database
from studio.access.tokens import TokenService
from studio.autopost.kind import AutopostKind
from studio.autopost.service import AutopostService
from studio.bundle import StudioBundle
from studio.gallery.collections import CollectionService
from studio.gallery.service import GalleryService
from studio.guild_settings import GuildSettingsService
from studio.images.compose import ComposeKind, EditService
from studio.images.describe import DescribeKind, DescribeService
from studio.images.followups import FollowUps
from studio.images.generate import GenerateKind, GenerateService
from studio.images.posts import PostService
from studio.images.submitter import ImageSubmitter
from studio.images.thumbnails import Thumbnails
from studio.jobs.queue import JobQueue
from studio.models.admin_service import ModelAdmin
from studio.models.service import ModelService
from studio.owner import acquire as acquire_owner
from studio.settings import Settings
from studio.training.export_kind import ExportKind
from studio.training.kind import TrainKind
from studio.training.registry import Registry
from studio.training.service import TrainService
from studio.trainsets.caption import CaptionKind
from studio.trainsets.check import CheckKind
from studio.trainsets.curation import Curation
from studio.trainsets.service import TrainsetService
from studio.trainsets.sheet import SheetKind, SheetService
from studio.uploads import Uploads


@dataclass
class Services:
    """Everything the bot and the CLI use (the bot sees it as `studio.bundle.StudioBundle`)."""

    settings: Settings
    db: Database
    host: OrderRunner | None  # the engine host when it runs in this process (STUDIO_BACKEND=thread, or one given)
    backend: ExecutionBackend
    jobs: JobQueue
    models: ModelService
    generate: GenerateService
    followups: FollowUps
    describe: DescribeService
    edits: EditService
    thumbnails: Thumbnails
    posts: PostService
    guild_settings: GuildSettingsService
    trainsets: TrainsetService
    curation: Curation
    sheets: SheetService
    training: TrainService
    autopost: AutopostService
    gallery: GalleryService
    collections: CollectionService
    tokens: TokenService
    model_admin: ModelAdmin


def as_bundle(services: Services) -> StudioBundle:
    """The services as an adapter sees them (mypy checks that `Services` provides every API)."""
    return services


def engine_config(settings: Settings) -> EngineConfig:
    engine = settings.engine
    return EngineConfig(
        device=engine.device,
        cache_dir=settings.models_dir,
        captioner=engine.captioner,
        segmenter=engine.segmenter,
        rewriter=engine.rewriter,
        embedder=engine.embedder,
        offline=engine.hf_offline,
        optimize=engine.optimize,
    )


def make_backend(settings: Settings) -> tuple[ExecutionBackend, OrderRunner | None]:
    """The backend the settings name, and the engine host when it runs in this process (`thread` only).

    `process` and `ray` build their hosts where the work runs, so this process never loads torch.
    """
    kind = settings.backend.kind
    factory = partial(EngineHost, engine_config(settings))
    if kind == "ray":
        from engine import RayBackend

        ray = settings.backend
        backend = RayBackend(
            factory,
            workers=ray.ray_workers,
            address=ray.ray_address or None,
            ship_files_from=settings.data_dir if ray.ray_files == "object-store" else None,
        )
        return backend, None
    if kind == "process":
        return ProcessBackend(factory), None
    host = factory()
    return ThreadBackend(host), host


def register_kinds(queue: JobQueue, db: Database, models: ModelService, settings: Settings, registry: Registry) -> None:
    """Every kind of job this studio runs. A new capability adds its kind here, and nothing else changes."""
    images = settings.images_dir
    queue.register(GenerateKind(db, models, images))
    queue.register(AutopostKind(db, models, images))
    queue.register(ComposeKind("vary", "Varying", db, models, images))
    queue.register(ComposeKind("edit", "Editing", db, models, images))
    queue.register(DescribeKind(models))
    queue.register(SheetKind(db, models, images))
    queue.register(CaptionKind(db))
    queue.register(CheckKind())
    queue.register(TrainKind(db, models, registry))
    queue.register(ExportKind(db))


@asynccontextmanager
async def open_services(
    settings: Settings,
    host: OrderRunner | None = None,
    backend: ExecutionBackend | None = None,
    *,
    owner: str | None = None,
) -> AsyncIterator[Services]:
    """Open the database and the engine; the caller sets a delivery port, then `jobs.start()`.

    The engine runs where `settings.backend` says, unless a `backend` is given, or a `host` (a test's) to run on a
    thread in this process.

    `owner` (the command, e.g. "studio run") makes this process the data folder's one owner first, until the
    services close: only an owner may start the queue, which recovers the jobs a crash left running.
    """
    # On the loop: a non-blocking flock and a few bytes, which a thread could leave held if cancelled meanwhile.
    lock = acquire_owner(settings.data_dir, owner) if owner else None
    try:
        async with _services(settings, host, backend) as services:
            yield services
    finally:
        if lock is not None:
            lock.release()


@asynccontextmanager
async def _services(
    settings: Settings, host: OrderRunner | None, backend: ExecutionBackend | None
) -> AsyncIterator[Services]:
    db = await open_database(settings.db_path)
    if backend is None and host is not None:
        backend = ThreadBackend(host)  # a host given (a test's) runs here, on the GPU thread
    elif backend is None:
        # On the loop, though a local Ray starts in seconds: nothing else runs yet (the bot connects after this), and
        # a Ray driver started from another thread dies at the next ray.init after a shutdown (tried: tests hang on
        # GCS). The engine process starts off the loop and is ready while the bot logs in.
        backend, host = make_backend(settings)
    models = ModelService(db, settings.default_model)
    queue = JobQueue(db, backend)
    # One registry: the end of a run and a member's choice of checkpoint take names under the same lock.
    registry = Registry(db, models, queue, settings.training_dir, settings.loras_dir)
    register_kinds(queue, db, models, settings, registry)
    uploads = Uploads(settings.uploads_dir, settings.max_attachment_bytes)
    submitter = ImageSubmitter(queue, models)
    generate = GenerateService(submitter)
    posts = PostService(db)
    trainsets = TrainsetService(db, queue, models, uploads, settings.trainsets_dir)
    followups = FollowUps(db, queue, submitter)
    gallery = GalleryService(db, followups.result)
    services = Services(
        settings=settings,
        db=db,
        host=host,
        backend=backend,
        jobs=queue,
        models=models,
        generate=generate,
        followups=followups,
        describe=DescribeService(queue, generate, uploads),
        edits=EditService(queue, submitter, models, uploads),
        thumbnails=Thumbnails(gallery, settings.thumbs_dir),
        posts=posts,
        guild_settings=GuildSettingsService(db),
        trainsets=trainsets,
        curation=Curation(db, trainsets, queue.admission),
        sheets=SheetService(db, queue, submitter, models, uploads, trainsets),
        training=TrainService(db, queue, models, trainsets, registry, backend.workers),
        autopost=AutopostService(db, submitter, models, queue.delivery),
        gallery=gallery,
        collections=CollectionService(db, gallery),
        tokens=TokenService(db),
        model_admin=ModelAdmin(settings, db, models),
    )
    try:
        yield services
    finally:
        await queue.stop()
        await backend.shutdown()
        await db.close()
